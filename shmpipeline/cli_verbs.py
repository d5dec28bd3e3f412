"""The handlers of the ``shmpipeline`` CLI verbs (``validate``, ``describe``,
``kinds``, ``cleanup``, ``run``, ``benchmark``): each takes the parsed
arguments and returns an exit code, following :mod:`shmpipeline.cli_support`.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from ._problems import close_matches
from .cli_support import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    UserError,
    emit_json,
    json_default,
    load_valid_config,
    one_line,
    print_error,
    shutdown_manager,
    sigterm_as_interrupt,
)
from .errors import ShmPipelineError, WorkerProcessError
from .state import PipelineState

__all__ = [
    "DEFAULT_BENCHMARK_POLL_S",
    "DEFAULT_DURATION_S",
    "DEFAULT_FRAMES",
    "DEFAULT_WARMUP",
    "DEFAULT_WARMUP_S",
    "cmd_benchmark",
    "cmd_cleanup",
    "cmd_describe",
    "cmd_endpoint_kinds",
    "cmd_kinds",
    "cmd_run",
    "cmd_validate",
]

_log = logging.getLogger("shmpipeline.cli")

#: ``benchmark`` defaults: frame mode, and the published duration mode.
DEFAULT_FRAMES = 1000
DEFAULT_WARMUP = 100
DEFAULT_DURATION_S = 5.0
DEFAULT_WARMUP_S = 0.5
DEFAULT_BENCHMARK_POLL_S = 1e-4


# --- validate / describe / kinds / cleanup --------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from .pipeline_validation import validate_pipeline_config

    report = []
    for path in args.configs:
        errors = [str(e) for e in validate_pipeline_config(path)]
        report.append({"path": path, "valid": not errors, "errors": errors})
    valid = all(item["valid"] for item in report)
    if args.json:
        emit_json({"valid": valid, "files": report})
    else:
        for item in report:
            if item["valid"]:
                print(f"OK      {item['path']}")
                continue
            count = len(item["errors"])
            print(f"FAILED  {item['path']} ({count} error{'s' if count > 1 else ''})")
            for error in item["errors"]:
                print(f"  - {error}")
        # The published CLI's closing words, which scripts grep for.
        if valid:
            print(f"Validation passed: {', '.join(args.configs)}")
        else:
            failed = sum(not item["valid"] for item in report)
            print(f"Validation failed: {failed} of {len(report)} file(s) invalid")
    return EXIT_OK if valid else EXIT_FAILED


def cmd_describe(args: argparse.Namespace) -> int:
    from .graph import PipelineGraph

    graph = PipelineGraph.from_config(load_valid_config(args.config))
    if args.json:
        emit_json(graph.to_dict())
    else:
        print(graph.describe())
    return EXIT_OK


def cmd_kinds(args: argparse.Namespace) -> int:
    from .registry import get_default_registry

    registry = get_default_registry()
    kinds = list(registry.kinds())
    problems = list(getattr(registry, "plugin_errors", ()))
    for problem in problems:
        _log.warning("kernel plugin: %s", problem)
    if args.json:
        emit_json({"kinds": kinds, "plugin_errors": problems})
    else:
        for kind in kinds:
            print(kind)
    return EXIT_OK


def cmd_endpoint_kinds(args: argparse.Namespace) -> int:
    from .registry import get_default_registry

    registry = get_default_registry()
    table = registry.source_kinds if args.role == "sources" else registry.sink_kinds
    kinds = list(table())
    if args.json:
        emit_json({"kinds": kinds})
    elif not kinds:
        print(f"(no {args.role[:-1]} plugins registered)")
    else:
        for kind in kinds:
            print(kind)
    return EXIT_OK


def cmd_cleanup(args: argparse.Namespace) -> int:
    from .stream import cleanup_segments

    report = cleanup_segments(args.namespace, dry_run=args.dry_run)
    if args.json:
        emit_json(
            {
                "namespace": args.namespace,
                "dry_run": args.dry_run,
                "removed": list(report.removed),
                "kept": list(report.kept),
                "skipped": [
                    {"segment_name": name, "problem": problem}
                    for name, problem in report.skipped
                ],
                "segments": [info.as_dict() for info in report.segments],
            }
        )
        return EXIT_OK
    for name in report.removed:
        print(f"{'would remove' if args.dry_run else 'removed'} {name}")
    for name, problem in report.skipped:
        print(f"skipped {name}: {problem}")
    done = "to remove (dry run)" if args.dry_run else "removed"
    line = f"{len(report.removed)} stale segment(s) {done}, {len(report.kept)} live kept"
    if report.skipped:
        line += f", {len(report.skipped)} skipped"
    print(line)
    return EXIT_OK


# --- run -----------------------------------------------------------------------------------


def _check_synthetic_streams(config: Any, specs: Sequence[Any]) -> None:
    """Synthetic inputs may only feed defined streams no kernel writes."""
    from .graph import PipelineGraph

    graph = PipelineGraph.from_config(config)
    known = [s.name for s in config.shared_memory]
    problems = []
    seen: set[str] = set()
    for spec in specs:
        name = spec.stream_name
        if name not in known:
            close = close_matches(name, known, n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; streams: {', '.join(known)}"
            )
            problems.append(f"--synthetic {name!r}: unknown stream{hint}")
        elif graph.producers(name):
            problems.append(
                f"--synthetic {name!r}: stream is written by kernel "
                f"{graph.producers(name)[0]!r}; synthetic inputs feed source streams "
                f"({', '.join(graph.source_streams()) or 'none'})"
            )
        elif name in seen:
            problems.append(
                f"--synthetic {name!r}: given twice (a stream has one writer)"
            )
        seen.add(name)
    if problems:
        raise UserError(*problems)


def cmd_run(args: argparse.Namespace) -> int:
    from .manager import PipelineManager

    config = load_valid_config(args.config)
    _check_synthetic_streams(config, args.synthetic)
    manager = PipelineManager(config, spawn_method=args.spawn_method)
    exit_code = EXIT_OK
    failure: str | None = None
    final: dict[str, Any] = {}
    synthetic: dict[str, Any] = {}
    began = started = time.monotonic()
    with sigterm_as_interrupt():
        try:
            manager.build()
            manager.start()
            for spec in args.synthetic:
                manager.start_synthetic_input(spec)
            started = time.monotonic()  # --duration counts from here
            if args.duration is None:
                _log.info("running %s; press Ctrl-C to stop", args.config)
            else:
                _log.info("running %s for %.3g s", args.config, args.duration)
            deadline = None if args.duration is None else started + args.duration
            while True:
                status = manager.status()
                if status.get("state") == PipelineState.FAILED:
                    failure = _failure_text(manager)
                    exit_code = EXIT_FAILED
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                time.sleep(
                    args.poll_interval
                    if deadline is None
                    else min(args.poll_interval, deadline - now)
                )
        except KeyboardInterrupt:
            exit_code = EXIT_INTERRUPTED
            _log.warning("interrupted: shutting down")
        finally:
            elapsed = time.monotonic() - started
            startup = started - began
            try:
                synthetic = manager.synthetic_input_status()
                final = manager.runtime_snapshot()
            except Exception:  # noqa: BLE001 - the summary must not mask the run's outcome
                _log.debug("final status unavailable", exc_info=True)
            shutdown_manager(manager)
    if failure is not None:
        print_error(f"pipeline failed: {failure}")
    if args.json_status:
        print(json.dumps(final, indent=2, sort_keys=True, default=json_default))
    elif args.json:
        emit_json(
            {
                "config": args.config,
                "exit_code": exit_code,
                "startup_s": startup,
                "elapsed_s": elapsed,
                "failure": failure,
                "synthetic_inputs": synthetic,
                "status": final,
            }
        )
    else:
        _print_run_summary(args.config, elapsed, startup, final, synthetic)
    return exit_code


def _failure_text(manager: Any) -> str:
    try:
        manager.raise_if_failed()
    except WorkerProcessError as exc:
        if exc.traceback:
            _log.debug("worker traceback:\n%s", exc.traceback.rstrip())
            if not _log.isEnabledFor(logging.DEBUG):
                return one_line(exc) + " (-v shows the worker's traceback)"
        return one_line(exc)
    except ShmPipelineError as exc:
        return one_line(exc)
    failures = manager.failures
    return str(failures[0]) if failures else "a worker failed"


def _workers(status: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    workers = status.get("workers") or {}
    if isinstance(workers, dict):
        return [(str(name), info) for name, info in workers.items()]
    return [(str(info.get("name", i)), info) for i, info in enumerate(workers)]


def _first(info: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if info.get(key) is not None:
            return info[key]
    return None


def _fmt(value: Any, spec: str = ".1f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def _print_run_summary(
    path: str,
    elapsed: float,
    startup: float,
    status: dict[str, Any],
    synthetic: dict[str, Any],
) -> None:
    print(
        f"{path}: ran {elapsed:.2f} s after a {startup:.2f} s start-up; "
        f"state before shutdown: {status.get('state', '?')}"
    )
    rows = _workers(status)
    if rows:
        width = max(len("kernel"), *(len(name) for name, _ in rows))
        print(
            f"  {'kernel':<{width}}  {'frames':>9}  {'mean us':>9}  {'p99 us':>9}  alive"
        )
        for name, info in rows:
            frames = _first(info, "frames_processed", "frames")
            mean = _first(info, "compute_mean_us", "mean_compute_us")
            p99 = _first(info, "compute_p99_us", "p99_compute_us")
            if (
                mean is None
                and _first(info, "compute_mean_s", "mean_compute_s") is not None
            ):
                mean = 1e6 * _first(info, "compute_mean_s", "mean_compute_s")
            if (
                p99 is None
                and _first(info, "compute_p99_s", "p99_compute_s") is not None
            ):
                p99 = 1e6 * _first(info, "compute_p99_s", "p99_compute_s")
            print(
                f"  {name:<{width}}  {_fmt(frames):>9}  {_fmt(mean):>9}  {_fmt(p99):>9}  "
                f"{_fmt(info.get('alive'))}"
            )
    for name, snap in synthetic.items():
        print(
            f"  synthetic {name}: {snap.get('pattern')}, {snap.get('frames_written')} frames "
            f"at {_fmt(snap.get('effective_rate_hz'))} Hz"
            + (f", error: {snap['last_error']}" if snap.get("last_error") else "")
        )


# --- benchmark --------------------------------------------------------------------------------


def cmd_benchmark(args: argparse.Namespace) -> int:
    from .benchmarking import (
        format_frame_report,
        format_rate_report,
        measure_output_rate,
        run_frame_benchmark,
    )
    from .manager import PipelineManager

    duration_mode = any(
        value is not None
        for value in (args.duration, args.source, args.output_stream, args.poll_interval)
    )
    if duration_mode and args.frames is not None:
        raise UsageError(
            "benchmark: --frames (frame mode) cannot be combined with --duration, "
            "--source, --output-stream or --poll-interval (duration mode)"
        )
    warmup = args.warmup
    if not duration_mode and warmup is not None and warmup != int(warmup):
        raise UsageError(
            f"benchmark: --warmup counts frames in frame mode, got {warmup:g}"
        )
    config = load_valid_config(args.config)
    if args.source is not None:
        _check_synthetic_streams(config, [args.source])
    manager = PipelineManager(config, spawn_method=args.spawn_method)
    with sigterm_as_interrupt():
        try:
            manager.build()
            if duration_mode:
                manager.start()
                report = measure_output_rate(
                    manager,
                    duration_s=args.duration or DEFAULT_DURATION_S,
                    warmup_s=DEFAULT_WARMUP_S if warmup is None else warmup,
                    source=args.source,
                    output_stream=args.output_stream,
                    poll_interval=args.poll_interval or DEFAULT_BENCHMARK_POLL_S,
                )
            else:
                report = run_frame_benchmark(
                    manager,
                    config,
                    frames=args.frames or DEFAULT_FRAMES,
                    warmup=DEFAULT_WARMUP if warmup is None else int(warmup),
                    timeout=args.timeout,
                    label=args.config,
                )
        finally:
            shutdown_manager(manager)
    if args.json:
        emit_json(report)
    elif duration_mode:
        print("\n".join(format_rate_report(report)))
    else:
        print("\n".join(format_frame_report(report)))
    return EXIT_OK
