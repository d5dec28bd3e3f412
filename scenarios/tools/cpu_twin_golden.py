"""Record a GPU scenario's golden from its CPU twin (no CUDA device needed).

Every ``gpu.<kind>`` kernel becomes ``cpu.<kind>`` and every stream host
storage; the twin runs in the inline executor on the scenario's own inputs
and the captures are saved under the GPU scenario's hash, so the GPU replay
is compared with them within the scenario's tolerances.

    python scenarios/tools/cpu_twin_golden.py scenarios/gpu_affine.yaml
"""

from __future__ import annotations

import dataclasses
import sys

from shmpipeline.config import PipelineConfig
from shmpipeline.testing.golden import save_golden
from shmpipeline.testing.inline import run_inline
from shmpipeline.testing.scenario import load_scenario, scenario_hash


def cpu_twin(config: PipelineConfig) -> PipelineConfig:
    streams = tuple(
        dataclasses.replace(s, storage="cpu", gpu_device=None, cpu_mirror=None)
        for s in config.shared_memory
    )
    kernels = tuple(
        dataclasses.replace(k, kind="cpu." + k.kind.split(".", 1)[1])
        if k.kind.startswith("gpu.")
        else k
        for k in config.kernels
    )
    return dataclasses.replace(config, shared_memory=streams, kernels=kernels)


def main(path: str) -> None:
    scenario = load_scenario(path)
    twin = dataclasses.replace(scenario, pipeline=cpu_twin(scenario.pipeline))
    result = run_inline(twin)
    if not result.ok:
        raise SystemExit(f"the CPU twin failed: {result.problem()}")
    save_golden(
        scenario.golden,
        dict(result.captures),
        scenario_hash=scenario_hash(scenario),
        metadata={
            "scenario": scenario.name,
            "frames": result.frames_completed,
            "recorded_by": "CPU twin (scenarios/tools/cpu_twin_golden.py)",
        },
    )
    print(f"recorded {scenario.golden} from the CPU twin")


if __name__ == "__main__":
    main(sys.argv[1])
