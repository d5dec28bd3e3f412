"""A manager process for the orphan tests: build and start a two-kernel
pipeline (and a synthetic input, or a worker pool), print one JSON line, then
sleep until killed. Run as ``python _orphan_manager.py METHOD``."""

from __future__ import annotations

import json
import sys
import time

CONFIG = {
    "shared_memory": [
        {"name": "src", "shape": [4], "dtype": "float64"},
        {"name": "mid", "shape": [4], "dtype": "float64"},
        {"name": "out", "shape": [4], "dtype": "float64"},
    ],
    "kernels": [
        {"name": "a", "kind": "cpu.copy", "input": "src", "output": "mid"},
        {"name": "b", "kind": "cpu.copy", "input": "mid", "output": "out"},
    ],
}


def main(method: str) -> None:
    from shmpipeline import PipelineManager

    options = {}
    if method.startswith("pool"):
        from shmpipeline.pool import WorkerPool

        start = method.partition("-")[2] or "spawn"
        options["workers"] = WorkerPool(2, spawn_method=start)
    else:
        options["spawn_method"] = method
    manager = PipelineManager(CONFIG, **options)
    manager.build()
    manager.start()
    manager.start_synthetic_input({"stream_name": "src", "pattern": "random", "rate_hz": 200})
    print(json.dumps({"ready": True}), flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main(sys.argv[1])
