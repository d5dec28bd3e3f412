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
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from .cli_args import (
    MAX_FRAMES,
    count_arg,
    non_negative_float,
    positive_float,
    synthetic_arg,
)
from .cli_support import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    UserError,
    exists_hint,
    logging_to_stderr,
    one_line,
    os_error_text,
    print_error,
    report_config_error,
)
from .cli_verbs import (  # the DEFAULT_* figures stay importable from here
    DEFAULT_BENCHMARK_POLL_S,
    DEFAULT_DURATION_S,
    DEFAULT_FRAMES,
    DEFAULT_WARMUP,
    DEFAULT_WARMUP_S,
    cmd_benchmark,
    cmd_cleanup,
    cmd_describe,
    cmd_endpoint_kinds,
    cmd_kinds,
    cmd_run,
    cmd_validate,
)
from .errors import ConfigValidationError, ShmPipelineError, StreamExistsError

__all__ = ["DEFAULT_BENCHMARK_POLL_S", "MAX_FRAMES", "build_parser", "main"]

_log = logging.getLogger("shmpipeline.cli")

#: How often ``run`` polls the manager for failures and progress.
POLL_INTERVAL_S = 0.1


# --- parser ---------------------------------------------------------------------


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
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser(
        "describe",
        parents=[common],
        help="describe a pipeline graph without running it",
    )
    p.add_argument("config", metavar="CFG", help="pipeline YAML file")
    p.add_argument("--json", action="store_true", help="print the graph as JSON")
    p.set_defaults(handler=cmd_describe)

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
        type=positive_float,
        default=None,
        metavar="S",
        help="seconds to run (default: until interrupted)",
    )
    p.add_argument(
        "--synthetic",
        action="append",
        type=synthetic_arg,
        default=[],
        metavar="STREAM:PATTERN[:RATE][,FIELD=VALUE...]",
        help="feed a source stream with a synthetic pattern (repeatable); e.g. "
        "frame:random, frame:sine:500, gain:constant:1,constant=0.5",
    )
    p.add_argument(
        "--poll-interval",
        type=positive_float,
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
    p.set_defaults(handler=cmd_run)

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
        type=count_arg(1),
        default=None,
        metavar="N",
        help=f"frame mode: measured frames per phase (default {DEFAULT_FRAMES}, "
        f"at most {MAX_FRAMES})",
    )
    p.add_argument(
        "--warmup",
        type=non_negative_float,
        default=None,
        metavar="N|S",
        help=f"unmeasured frames first in frame mode (default {DEFAULT_WARMUP}); "
        f"seconds in duration mode (default {DEFAULT_WARMUP_S})",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=5.0,
        metavar="S",
        help="frame mode: give up when a frame takes longer than this (default 5 s)",
    )
    p.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        metavar="S",
        help=f"duration mode: measured seconds (default {DEFAULT_DURATION_S})",
    )
    p.add_argument(
        "--source",
        type=synthetic_arg,
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
        type=positive_float,
        default=None,
        metavar="S",
        help="duration mode: seconds between failure checks (default 1e-4)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_spawn_method(p)
    p.set_defaults(handler=cmd_benchmark)

    p = sub.add_parser("kinds", parents=[common], help="list registered kernel kinds")
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p.set_defaults(handler=cmd_kinds)

    for role in ("sources", "sinks"):
        p = sub.add_parser(
            role, parents=[common], help=f"list registered {role[:-1]} plugin kinds"
        )
        p.add_argument("--json", action="store_true", help="print a JSON document")
        p.set_defaults(handler=cmd_endpoint_kinds, role=role)

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
    p.set_defaults(handler=cmd_cleanup)

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
        print_error(f"unrecognized arguments: {unknown} (see '{PROG} --help')")
        return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_USAGE)
    with logging_to_stderr(args):
        try:
            return int(args.handler(args))
        except KeyboardInterrupt:
            print_error("interrupted")
            return EXIT_INTERRUPTED
        except UserError as exc:
            for line in exc.lines:
                print_error(line)
            return exc.exit_code
        except ConfigValidationError as exc:
            report_config_error(exc)
            return EXIT_FAILED
        except StreamExistsError as exc:
            print_error(exists_hint(exc))
            return EXIT_FAILED
        except ShmPipelineError as exc:
            print_error(one_line(exc))
            _log.debug("details:\n%s", exc)
            return EXIT_FAILED
        except BrokenPipeError:  # pragma: no cover - stdout closed by e.g. `| head`
            return EXIT_OK
        except OSError as exc:
            print_error(os_error_text(exc))
            _log.debug("details", exc_info=True)
            return EXIT_FAILED
        except Exception as exc:  # noqa: BLE001 - last resort: one line, traceback with -v
            print_error(
                f"unexpected {type(exc).__name__}: {exc} (run with -v for the traceback)"
            )
            _log.debug("traceback", exc_info=True)
            return EXIT_FAILED


if __name__ == "__main__":  # python -m shmpipeline.cli, as with the published package
    raise SystemExit(main())
