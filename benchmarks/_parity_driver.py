"""Feed one pipeline implementation frame by frame and save its outputs.

Run by ``published_pipeline_parity.py`` with this project's interpreter
(``PYTHONPATH`` = the repository) and with the published package's venv, on
the same YAML document and the same frames. Only the API both share is used:
``PipelineManager(path)``, ``build/start/shutdown``, ``get_stream`` and the
handles' ``write(value, frame_id=)``, ``count``, ``frame_id``, ``read()`` and
``wait_for_count(after, timeout)``.

For each frame ``i``: every input stream is written with ``frame_id=i+1``,
then the driver waits until every output stream has published once more and
reads it. Outputs (and their frame ids) are saved to an ``.npz``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from shmpipeline import PipelineManager


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--plan", required=True, help="JSON: inputs, outputs, aux")
    parser.add_argument("--data", required=True, help="npz of frames and aux arrays")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    with open(args.plan, encoding="utf-8") as handle:
        plan = json.load(handle)
    data = np.load(args.data)
    frames = int(plan["frames"])
    timeout = float(plan.get("timeout_s", 30.0))

    manager = PipelineManager(args.config)
    manager.build()
    try:
        for stream in plan.get("aux", ()):
            manager.get_stream(stream).write(data[f"aux/{stream}"])
        manager.start()
        inputs = {name: manager.get_stream(name) for name in plan["inputs"]}
        outputs = {name: manager.get_stream(name) for name in plan["outputs"]}
        values = {name: [] for name in outputs}
        tokens = {name: [] for name in outputs}
        started = time.perf_counter()
        for index in range(frames):
            before = {name: stream.count for name, stream in outputs.items()}
            for name, stream in inputs.items():
                stream.write(data[f"in/{name}"][index], frame_id=index + 1)
            for name, stream in outputs.items():
                stream.wait_for_count(after=before[name], timeout=timeout)
                values[name].append(np.array(stream.read(), copy=True))
                tokens[name].append(int(stream.frame_id))
        elapsed = time.perf_counter() - started
        manager.raise_if_failed()
    finally:
        manager.shutdown(force=True)
    saved = {f"out/{name}": np.stack(v) for name, v in values.items()}
    saved.update({f"frame_id/{name}": np.array(t) for name, t in tokens.items()})
    np.savez(args.out, **saved)
    print(json.dumps({"frames": frames, "seconds": elapsed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
