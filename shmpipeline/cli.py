"""Command-line entry points for shmpipeline.

``shmpipeline`` (console script) and ``python -m shmpipeline`` run
:func:`main`. Commands::

    validate CFG...        check every file, print every error, then
                           "Validation passed" / "Validation failed"
    describe CFG [--json]  the pipeline graph
    run CFG [--duration S] [--synthetic STREAM:PATTERN[:RATE][,FIELD=VALUE...]]...
        [--poll-interval S] [--json | --json-status]
    benchmark CFG [--frames N] [--warmup N] [--json]           (frame mode)
    benchmark CFG --duration S [--source STREAM:PATTERN[:RATE]]
        [--output-stream STREAM] [--poll-interval S] [--json]  (duration mode)
    kinds [--json]         registered kernel kinds
    cleanup [--namespace NS] [--dry-run] [--json]  (reports what it skipped)
    scenario ...           harness verbs, when shmpipeline.testing.cli provides them

Conventions: results go to stdout, logs and errors to stderr;
``--json`` prints one JSON document on stdout whatever the log level. Exit
codes: 0 ok, 1 failed validation / failed run / golden mismatch, 2 usage
error (argparse), 130 interrupted (Ctrl-C or SIGTERM, after a clean
shutdown). A user error (invalid config, missing file, bad option value)
prints a one-line ``shmpipeline: error: ...`` message per problem, never a
traceback; ``-v`` adds tracebacks of unexpected errors.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import math
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .errors import (
    ConfigValidationError,
    ShmPipelineError,
    StreamExistsError,
    WorkerProcessError,
)

__all__ = ["build_parser", "main"]

PROG = "shmpipeline"
_log = logging.getLogger("shmpipeline.cli")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: How often ``run`` polls the manager for failures and progress.
POLL_INTERVAL_S = 0.1

#: ``benchmark`` defaults: frame mode, and the published duration mode.
DEFAULT_FRAMES = 1000
DEFAULT_WARMUP = 100
DEFAULT_DURATION_S = 5.0
DEFAULT_WARMUP_S = 0.5
DEFAULT_BENCHMARK_POLL_S = 1e-4


class _UserError(Exception):
    """A problem to report as ``shmpipeline: error: <line>`` lines, exit 1."""

    exit_code = 1

    def __init__(self, *lines: str) -> None:
        super().__init__(lines[0] if lines else "")
        self.lines = lines


class _UsageError(_UserError):
    """Options that argparse accepts one by one but not together: exit 2."""

    exit_code = 2


# --- parser ---------------------------------------------------------------------


#: Upper bound of ``--frames`` / ``--warmup``: beyond it a benchmark would
#: run for days and its sample buffers would not fit in memory.
MAX_FRAMES = 10**9


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line message for unknown options (the usage text
    hides which option was wrong). ``leading_options`` maps the option
    strings accepted before the command to whether each takes a value."""

    leading_options: dict[str, bool] = {}

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self.leading_options = {
            **self.leading_options,
            **{option: action.nargs != 0 for option in action.option_strings},
        }
        return action

    def error(self, message: str):  # type: ignore[override]
        if message.startswith("unrecognized arguments"):
            self.exit(
                EXIT_USAGE, f"{PROG}: error: {message} (see '{self.prog} --help')\n"
            )
        super().error(message)


def _unknown_leading_option(
    argv: Sequence[str], options: dict[str, bool]
) -> str | None:
    """The first option before the command that the top level does not know
    (argparse would only say that COMMAND is missing). ``options`` maps each
    top-level option string to whether it takes a value."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--" or not token.startswith("-") or token == "-":
            return None
        flag, has_value, _ = token.partition("=")
        if flag.startswith("--"):
            matches = [option for option in options if option.startswith(flag)]
            if not matches:
                return token
            if not has_value and any(options[option] for option in matches):
                next(tokens, None)  # the option's value
        elif not all(f"-{char}" in options for char in flag[1:]):
            return token
    return None


def _synthetic_arg(text: str):
    """argparse ``type`` for ``--synthetic`` (a bad spec is a usage error)."""
    from .synthetic import parse_synthetic_shorthand

    try:
        return parse_synthetic_shorthand(text)
    except ConfigValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds, got {text!r}"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or value > MAX_FRAMES:
        raise argparse.ArgumentTypeError(
            f"must be a number from 0 to {MAX_FRAMES}, got {text!r}"
        )
    return value


def _count(minimum: int, maximum: int = MAX_FRAMES):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level CLI parser."""
    from . import __version__

    # -v/-q are accepted before and after the command; SUPPRESS keeps a
    # subcommand that does not repeat them from resetting the top-level ones.
    common = _Parser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more log output on stderr (-vv: debug)",
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=argparse.SUPPRESS,
        help="less log output on stderr (-qq: errors only)",
    )

    parser = _Parser(
        prog=PROG,
        description="Real-time compute pipelines over zero-copy shared-memory streams.",
        parents=[common],
    )
    parser.leading_options = {
        **common.leading_options,
        **parser.leading_options,
    }
    parser.set_defaults(verbose=0, quiet=0, log_level=None)
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    parser.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        type=str.upper,
        help="explicit log level (overrides -v/-q)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "validate",
        parents=[common],
        help="validate pipeline YAML files",
        description="Validate pipeline files; every error of every file is printed. "
        "Exit 1 when any file is invalid.",
    )
    p.add_argument("configs", nargs="+", metavar="CFG", help="pipeline YAML file(s)")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    p.set_defaults(handler=_cmd_validate)

    p = sub.add_parser(
        "describe",
        parents=[common],
        help="describe a pipeline graph without running it",
    )
    p.add_argument("config", metavar="CFG", help="pipeline YAML file")
    p.add_argument("--json", action="store_true", help="print the graph as JSON")
    p.set_defaults(handler=_cmd_describe)

    p = sub.add_parser(
        "run",
        parents=[common],
        help="build and run a pipeline",
        description="Build and start the pipeline, feed the synthetic inputs, run for "
        "--duration seconds (or until Ctrl-C), shut down cleanly and print a summary.",
    )
    p.add_argument("config", metavar="CFG", help="pipeline YAML file")
    p.add_argument(
        "--duration",
        type=_positive_float,
        default=None,
        metavar="S",
        help="seconds to run (default: until interrupted)",
    )
    p.add_argument(
        "--synthetic",
        action="append",
        type=_synthetic_arg,
        default=[],
        metavar="STREAM:PATTERN[:RATE][,FIELD=VALUE...]",
        help="feed a source stream with a synthetic pattern (repeatable); e.g. "
        "frame:random, frame:sine:500, gain:constant:1,constant=0.5",
    )
    p.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=POLL_INTERVAL_S,
        metavar="S",
        help=f"seconds between failure/progress checks (default {POLL_INTERVAL_S})",
    )
    output = p.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true", help="print the final status as JSON"
    )
    output.add_argument(
        "--json-status",
        action="store_true",
        help="print only the final runtime snapshot as JSON (the published "
        "shmpipeline's output)",
    )
    _add_spawn_method(p)
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser(
        "benchmark",
        parents=[common],
        help="measure end-to-end latency and throughput",
        description="Frame mode (default, --frames): drive the pipeline's source "
        "streams and time the sinks: a lockstep phase (write frame k, wait until "
        "every sink published frame k) gives the latency; a pipelined phase (write "
        "frame k once the first stages finished frame k-1) gives the throughput. "
        "Duration mode (--duration, --source, --output-stream or --poll-interval, "
        "as in the published shmpipeline): let the pipeline run for --duration "
        "seconds and report the throughput and inter-arrival spacing at one "
        "output stream.",
    )
    p.add_argument("config", metavar="CFG", help="pipeline YAML file")
    p.add_argument(
        "--frames",
        type=_count(1),
        default=None,
        metavar="N",
        help=f"frame mode: measured frames per phase (default {DEFAULT_FRAMES}, "
        f"at most {MAX_FRAMES})",
    )
    p.add_argument(
        "--warmup",
        type=_non_negative_float,
        default=None,
        metavar="N|S",
        help=f"unmeasured frames first in frame mode (default {DEFAULT_WARMUP}); "
        f"seconds in duration mode (default {DEFAULT_WARMUP_S})",
    )
    p.add_argument(
        "--timeout",
        type=_positive_float,
        default=5.0,
        metavar="S",
        help="frame mode: give up when a frame takes longer than this (default 5 s)",
    )
    p.add_argument(
        "--duration",
        type=_positive_float,
        default=None,
        metavar="S",
        help=f"duration mode: measured seconds (default {DEFAULT_DURATION_S})",
    )
    p.add_argument(
        "--source",
        type=_synthetic_arg,
        default=None,
        metavar="STREAM:PATTERN[:RATE]",
        help="duration mode: feed a stream with a synthetic input while "
        "measuring, e.g. frame:random:1000",
    )
    p.add_argument(
        "--output-stream",
        default=None,
        metavar="STREAM",
        help="duration mode: the stream to time (default: the only sink stream)",
    )
    p.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=None,
        metavar="S",
        help="duration mode: seconds between failure checks (default 1e-4)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_spawn_method(p)
    p.set_defaults(handler=_cmd_benchmark)

    p = sub.add_parser("kinds", parents=[common], help="list registered kernel kinds")
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p.set_defaults(handler=_cmd_kinds)

    for role in ("sources", "sinks"):
        p = sub.add_parser(
            role, parents=[common], help=f"list registered {role[:-1]} plugin kinds"
        )
        p.add_argument("--json", action="store_true", help="print a JSON document")
        p.set_defaults(handler=_cmd_endpoint_kinds, role=role)

    p = sub.add_parser(
        "cleanup",
        parents=[common],
        help="remove stale shared-memory segments",
        description="Remove the segments whose creator process is dead (a crashed or "
        "killed pipeline). Live segments are never touched.",
    )
    p.add_argument(
        "--namespace",
        default=None,
        metavar="NS",
        help="only this namespace (default: $SHMPIPELINE_NAMESPACE, else all)",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be removed")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    p.set_defaults(handler=_cmd_cleanup)

    _register_scenario_commands(sub, common)
    return parser


def _add_spawn_method(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spawn-method",
        choices=("spawn", "forkserver", "fork"),
        default="spawn",
        help="how worker processes start (default spawn; forkserver starts "
        "them faster)",
    )


def _register_scenario_commands(
    subparsers: Any, common: argparse.ArgumentParser
) -> None:
    """HOOK for the harness verbs (``scenario list|run|record``).

    They live in ``shmpipeline.testing.cli``, which must define
    ``register_commands(subparsers, parents) -> None``: add the ``scenario``
    parser (``subparsers.add_parser("scenario", parents=parents, ...)``) and
    give each leaf a ``handler(args) -> int`` default (``set_defaults``).
    Handlers follow this module's conventions (exit codes, stdout/stderr)
    and may raise ``ConfigValidationError`` / ``ShmPipelineError`` for user
    errors. Without that module the CLI simply has no ``scenario`` command.
    """
    try:
        module = importlib.import_module("shmpipeline.testing.cli")
    except ModuleNotFoundError as exc:
        if exc.name not in ("shmpipeline.testing.cli", "shmpipeline.testing"):
            _log.warning("scenario commands unavailable: %s", exc)
        return
    except Exception as exc:  # noqa: BLE001 - a broken harness must not break the CLI
        _log.warning("scenario commands unavailable: %s: %s", type(exc).__name__, exc)
        return
    register = getattr(module, "register_commands", None)
    if register is not None:
        register(subparsers, [common])


# --- main --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shmpipeline CLI."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    unknown = _unknown_leading_option(argv, parser.leading_options)
    if unknown is not None:
        _error(f"unrecognized arguments: {unknown} (see '{PROG} --help')")
        return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_USAGE)
    with _logging_to_stderr(args):
        try:
            return int(args.handler(args))
        except KeyboardInterrupt:
            _error("interrupted")
            return EXIT_INTERRUPTED
        except _UserError as exc:
            for line in exc.lines:
                _error(line)
            return exc.exit_code
        except ConfigValidationError as exc:
            _report_config_error(exc)
            return EXIT_FAILED
        except StreamExistsError as exc:
            _error(_exists_hint(exc))
            return EXIT_FAILED
        except ShmPipelineError as exc:
            _error(_one_line(exc))
            _log.debug("details:\n%s", exc)
            return EXIT_FAILED
        except BrokenPipeError:  # pragma: no cover - stdout closed by e.g. `| head`
            return EXIT_OK
        except OSError as exc:
            _error(_os_error(exc))
            _log.debug("details", exc_info=True)
            return EXIT_FAILED
        except Exception as exc:  # noqa: BLE001 - last resort: one line, traceback with -v
            _error(
                f"unexpected {type(exc).__name__}: {exc} (run with -v for the traceback)"
            )
            _log.debug("traceback", exc_info=True)
            return EXIT_FAILED


@contextlib.contextmanager
def _logging_to_stderr(args: argparse.Namespace) -> Iterator[None]:
    """Route the package's log records to the current stderr for one call."""
    if args.log_level:
        level = getattr(logging, args.log_level)
    else:
        level = logging.INFO + 10 * (args.quiet - args.verbose)
        level = min(max(level, logging.DEBUG), logging.ERROR)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("shmpipeline")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, without the details that follow
    a blank line (e.g. a worker's traceback, logged at debug level)."""
    text = str(exc).strip() or type(exc).__name__
    head = text.split("\n\n", 1)[0]
    return " ".join(line.strip() for line in head.splitlines())


def _exists_hint(exc: StreamExistsError) -> str:
    """A live stream of the same name blocks this pipeline: say what a CLI
    user can do (the Python-level advice, ``exist_ok=True``, is not theirs)."""
    message = _one_line(exc).split("; pass exist_ok=True", 1)[0]
    return (
        f"{message}; another pipeline is using these stream names: stop it, or "
        f"run this one in another namespace (e.g. SHMPIPELINE_NAMESPACE=mine "
        f"{PROG} ...); '{PROG} cleanup' removes what crashed pipelines left behind"
    )


def _os_error(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return _one_line(exc)


def _report_config_error(exc: ConfigValidationError) -> None:
    errors = exc.errors if len(exc.errors) > 1 else (str(exc),)
    for message in errors:
        if exc.path and not str(message).startswith(str(exc.path)):
            message = f"{exc.path}: {message}"
        _error(str(message))


def _emit_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


# --- helpers shared by commands --------------------------------------------------------


def _load_valid_config(path: str):
    """Load ``path``; every validation error becomes a :class:`_UserError`."""
    from .config import PipelineConfig
    from .graph import validate_pipeline_config

    errors = validate_pipeline_config(path)
    if errors:
        raise _UserError(*errors)
    return PipelineConfig.from_yaml(path)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Make SIGTERM stop a long command like Ctrl-C does (clean shutdown)."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _shutdown(manager: Any) -> None:
    """Stop synthetic writers and workers and unlink the streams; a second
    Ctrl-C while doing so forces it."""
    try:
        try:
            manager.stop_all_synthetic_inputs()
        finally:
            manager.shutdown()
    except KeyboardInterrupt:
        _log.warning("interrupted again: forcing shutdown")
        manager.shutdown(force=True)


# --- validate / describe / kinds / cleanup --------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    from .graph import validate_pipeline_config

    report = []
    for path in args.configs:
        errors = [str(e) for e in validate_pipeline_config(path)]
        report.append({"path": path, "valid": not errors, "errors": errors})
    valid = all(item["valid"] for item in report)
    if args.json:
        _emit_json({"valid": valid, "files": report})
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


def _cmd_describe(args: argparse.Namespace) -> int:
    from .graph import PipelineGraph

    graph = PipelineGraph.from_config(_load_valid_config(args.config))
    if args.json:
        _emit_json(graph.to_dict())
    else:
        print(graph.describe())
    return EXIT_OK


def _cmd_kinds(args: argparse.Namespace) -> int:
    from .registry import get_default_registry

    registry = get_default_registry()
    kinds = list(registry.kinds())
    problems = list(getattr(registry, "plugin_errors", ()))
    for problem in problems:
        _log.warning("kernel plugin: %s", problem)
    if args.json:
        _emit_json({"kinds": kinds, "plugin_errors": problems})
    else:
        for kind in kinds:
            print(kind)
    return EXIT_OK


def _cmd_endpoint_kinds(args: argparse.Namespace) -> int:
    from .registry import get_default_registry

    registry = get_default_registry()
    table = registry.source_kinds if args.role == "sources" else registry.sink_kinds
    kinds = list(table())
    if args.json:
        _emit_json({"kinds": kinds})
    elif not kinds:
        print(f"(no {args.role[:-1]} plugins registered)")
    else:
        for kind in kinds:
            print(kind)
    return EXIT_OK


def _cmd_cleanup(args: argparse.Namespace) -> int:
    from .stream import cleanup_segments

    report = cleanup_segments(args.namespace, dry_run=args.dry_run)
    if args.json:
        _emit_json(
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
            import difflib

            close = difflib.get_close_matches(name, known, n=1)
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
        raise _UserError(*problems)


def _cmd_run(args: argparse.Namespace) -> int:
    from .manager import PipelineManager

    config = _load_valid_config(args.config)
    _check_synthetic_streams(config, args.synthetic)
    manager = PipelineManager(config, spawn_method=args.spawn_method)
    exit_code = EXIT_OK
    failure: str | None = None
    final: dict[str, Any] = {}
    synthetic: dict[str, Any] = {}
    began = started = time.monotonic()
    with _sigterm_as_interrupt():
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
                if str(status.get("state")) == "failed":
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
            _shutdown(manager)
    if failure is not None:
        _error(f"pipeline failed: {failure}")
    if args.json_status:
        print(json.dumps(final, indent=2, sort_keys=True, default=_json_default))
    elif args.json:
        _emit_json(
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
                return _one_line(exc) + " (-v shows the worker's traceback)"
        return _one_line(exc)
    except ShmPipelineError as exc:
        return _one_line(exc)
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


def _cmd_benchmark(args: argparse.Namespace) -> int:
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
        raise _UsageError(
            "benchmark: --frames (frame mode) cannot be combined with --duration, "
            "--source, --output-stream or --poll-interval (duration mode)"
        )
    warmup = args.warmup
    if not duration_mode and warmup is not None and warmup != int(warmup):
        raise _UsageError(
            f"benchmark: --warmup counts frames in frame mode, got {warmup:g}"
        )
    config = _load_valid_config(args.config)
    if args.source is not None:
        _check_synthetic_streams(config, [args.source])
    manager = PipelineManager(config, spawn_method=args.spawn_method)
    with _sigterm_as_interrupt():
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
            _shutdown(manager)
    if args.json:
        _emit_json(report)
    elif duration_mode:
        print("\n".join(format_rate_report(report)))
    else:
        print("\n".join(format_frame_report(report)))
    return EXIT_OK
