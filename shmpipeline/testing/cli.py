"""``shmpipeline scenario list|run|record|unused``.

Registered by :func:`register_commands` through the hook of
:mod:`shmpipeline.cli`::

    shmpipeline scenario list [DIR...] [--json]
    shmpipeline scenario run [NAME|GLOB|FILE...] [--all] [--dir DIR] [--report out.json]
                             [--report-html DIR] [--require-gpu] [--force-regen]
                             [--executor replay|inline] [--namespace NS]
    shmpipeline scenario record [NAME|GLOB|FILE...] [--all] [--dir DIR] [--namespace NS]
    shmpipeline scenario unused [DIR...] [--remove]

``run`` prints the same report as the pytest plugin and exits 1 when a
scenario fails (golden mismatch, unexpected kernel failure, missing golden),
0 when all pass. A scenario whose requirements are not met here (a GPU,
torch, a plugin's kernel kind) is skipped with its reason (exit 0), unless
``--require-gpu`` and the missing piece is a GPU or torch. ``record``
rewrites a golden only when its values or the scenario changed. Each
invocation replays in a fresh shared-memory namespace (``--namespace`` to
choose one), so two jobs on one host never collide. Names are looked up in
``--dir`` (default ``scenarios/`` under the working directory if it exists,
else the working directory).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["register_commands"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
NAMESPACE_ENV = "SHMPIPELINE_NAMESPACE"


def _default_dirs() -> list[Path]:
    cwd = Path.cwd()
    return [cwd / "scenarios"] if (cwd / "scenarios").is_dir() else [cwd]


def register_commands(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``scenario`` and ``examples`` commands to the CLI parser."""
    _register_examples(subparsers, parents)
    scenario = subparsers.add_parser(
        "scenario",
        parents=parents,
        help="list, replay and record test scenarios",
        description="Deterministic scenario replays checked against golden files "
        "(the harness of shmpipeline.testing).",
    )
    verbs = scenario.add_subparsers(dest="scenario_verb", metavar="VERB")
    verbs.required = True

    p = verbs.add_parser("list", parents=parents, help="list scenarios in directories")
    _add_dirs_argument(p)
    p.add_argument("--json", action="store_true", help="print a JSON document")
    _add_registry_option(p)
    p.set_defaults(handler=_cmd_list)

    p = verbs.add_parser(
        "unused", parents=parents, help="list goldens no scenario names any more"
    )
    _add_dirs_argument(p)
    p.add_argument("--remove", action="store_true", help="delete them")
    p.set_defaults(handler=_cmd_unused)

    for verb, help_text in (
        ("run", "replay scenarios and compare them with their goldens"),
        ("record", "replay scenarios and (re)write their golden files"),
    ):
        p = verbs.add_parser(verb, parents=parents, help=help_text)
        p.add_argument(
            "scenarios",
            nargs="*",
            metavar="NAME|FILE",
            help="scenario names, globs such as 'ao_*', or files",
        )
        p.add_argument(
            "--all", action="store_true", help="every scenario in the directories"
        )
        p.add_argument(
            "--dir",
            action="append",
            dest="dirs",
            default=[],
            metavar="DIR",
            help="where names are looked up (repeatable; default ./scenarios if "
            "present, else .)",
        )
        p.add_argument(
            "--report", metavar="FILE", help="also write a JSON report to FILE"
        )
        p.add_argument(
            "--report-html",
            metavar="DIR",
            help="write an HTML report per scenario and index.html into DIR",
        )
        p.add_argument(
            "--namespace",
            metavar="NS",
            help="shared-memory namespace of the replays (default: a fresh one)",
        )
        p.add_argument(
            "--executor",
            choices=("replay", "inline"),
            default="replay",
            help="replay: the real multi-process pipeline (default); inline: the "
            "in-process reference executor (quick, not the real pipeline)",
        )
        p.add_argument(
            "--allow-outside-paths",
            action="store_true",
            help="let pipeline:, golden: and file: paths leave the scenario's folder",
        )
        p.add_argument(
            "--require-gpu",
            action="store_true",
            help="fail (instead of skipping) scenarios needing a missing GPU or torch",
        )
        _add_registry_option(p)
        if verb == "run":
            p.add_argument(
                "--force-regen",
                action="store_true",
                help="rewrite the goldens of failing scenarios (they still fail)",
            )
        p.set_defaults(
            handler=_cmd_run if verb == "run" else _cmd_record, verb_parser=p
        )


def _register_examples(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "examples",
        parents=parents,
        help="list the shipped example scenarios and pipelines, or copy them",
        description="The example scenarios (with goldens and data) and pipelines "
        "shipped with shmpipeline. Without DEST: list them; with DEST: copy them "
        "into DEST/scenarios and DEST/pipelines.",
    )
    p.add_argument("destination", nargs="?", metavar="DEST", help="copy them here")
    p.add_argument("--json", action="store_true", help="list as a JSON document")
    p.add_argument(
        "--force", action="store_true", help="overwrite files already in DEST"
    )
    p.set_defaults(handler=_cmd_examples)


def _cmd_examples(args: argparse.Namespace) -> int:
    from shmpipeline.testing.examples import copy_examples, list_examples

    if args.destination:
        written = copy_examples(args.destination, overwrite=args.force)
        print(f"copied {len(written)} files into {args.destination}")
        return 0
    examples = list_examples()
    if args.json:
        rows = [
            {
                "kind": e.kind,
                "name": e.name,
                "path": str(e.path),
                "description": e.description,
            }
            for e in examples
        ]
        print(json.dumps({"examples": rows}, indent=2))
        return 0
    if not examples:
        print("no shipped examples found")
        return 0
    for example in examples:
        line = f"{example.kind:9} {example.name}"
        if example.description:
            line += f"  {example.description}"
        print(line)
    print("(copy them with: shmpipeline examples DEST)")
    return 0


def _add_dirs_argument(parser: argparse.ArgumentParser) -> None:
    """The directories a verb searches for scenarios (positional)."""
    parser.add_argument(
        "dirs",
        nargs="*",
        metavar="DIR",
        help="directories to search (default: ./scenarios if present, else .)",
    )


def _add_registry_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        metavar="MODULE:ATTR",
        default=None,
        help="the kernel registry to use (a registry or a callable returning "
        "one; default: built-ins plus installed plugins)",
    )


def _registry(args: argparse.Namespace) -> Any:
    from shmpipeline.testing.registry_spec import resolve_registry

    return resolve_registry(getattr(args, "registry", None))


def _info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmd_list(args: argparse.Namespace) -> int:
    from shmpipeline.errors import ScenarioError
    from shmpipeline.testing.requirements import unmet_for_file
    from shmpipeline.testing.scenario import find_scenarios, load_scenarios

    dirs = [Path(d) for d in args.dirs] or _default_dirs()
    for directory in dirs:
        if not directory.is_dir():
            raise ScenarioError(f"not a directory: {directory}")
    rows: list[dict[str, Any]] = []
    registry = _registry(args)
    for path in find_scenarios(dirs):
        unmet = unmet_for_file(path, registry=registry)
        if unmet:
            rows.append(
                {
                    "name": path.stem,
                    "path": str(path),
                    "skipped": [
                        f"needs {u.need}: skipped here ({u.reason})" for u in unmet
                    ],
                }
            )
            continue
        try:
            scenarios = load_scenarios(path, registry=registry)
        except ScenarioError as exc:
            rows.append({"name": path.stem, "path": str(path), "error": str(exc)})
            continue
        for scenario in scenarios:
            golden = scenario.golden
            rows.append(
                {
                    "name": scenario.item_name,
                    "path": str(path),
                    "mode": scenario.mode,
                    "frames": scenario.frame_count,
                    "requirements": list(scenario.requirements),
                    "expect_failure": scenario.expect_failure is not None,
                    "golden": None if golden is None else str(golden),
                    "golden_present": bool(golden is not None and golden.is_file()),
                    "description": scenario.description,
                }
            )
    if args.json:
        print(json.dumps({"scenarios": rows}, indent=2))
        return EXIT_OK
    if not rows:
        _info(f"no scenarios in {', '.join(str(d) for d in dirs)}")
        return EXIT_OK
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        if "error" in row:
            print(f"{row['name']:<{width}}  INVALID  {row['error'].splitlines()[0]}")
            continue
        if "skipped" in row:
            print(f"{row['name']:<{width}}  {'; '.join(row['skipped'])}")
            continue
        tags = [row["mode"], f"{row['frames']} frames"]
        if row["requirements"]:
            tags.append("needs " + ",".join(row["requirements"]))
        if row["expect_failure"]:
            tags.append("expects a failure")
        elif row["mode"] == "lockstep":
            tags.append("golden ok" if row["golden_present"] else "golden MISSING")
        line = f"{row['name']:<{width}}  {'; '.join(tags)}"
        if row["description"]:
            line += f"  - {row['description']}"
        print(line)
    return EXIT_OK


def _cmd_unused(args: argparse.Namespace) -> int:
    from shmpipeline.errors import ScenarioError
    from shmpipeline.testing.golden_inventory import remove_goldens, unused_goldens

    dirs = [Path(d) for d in args.dirs] or _default_dirs()
    for directory in dirs:
        if not directory.is_dir():
            raise ScenarioError(f"not a directory: {directory}")
    unused = unused_goldens(dirs)
    if args.remove:
        for path in remove_goldens(unused):
            print(f"removed {path}")
        return EXIT_OK
    for path in unused:
        print(path)
    if unused:
        _info(f"{len(unused)} golden(s) no scenario names; remove them with --remove")
    return EXIT_OK


def _resolve(args: argparse.Namespace) -> list[Path]:
    from shmpipeline.errors import ScenarioError
    from shmpipeline.testing.examples import match_with_shipped
    from shmpipeline.testing.scenario import find_scenarios

    search = [Path(d) for d in args.dirs] or _default_dirs()
    if args.all:
        found = find_scenarios(search)
        if not found:
            raise ScenarioError(f"no scenarios in {', '.join(map(str, search))}")
        return found
    paths: dict[Path, None] = {}
    for name in args.scenarios:
        paths.update(dict.fromkeys(match_with_shipped(name, search)))
    return list(paths)


def _write_report(path: str | None, outcomes: list[dict[str, Any]]) -> None:
    if path is None:
        return
    document = {
        "ok": all(item.get("ok", False) for item in outcomes),
        "scenarios": outcomes,
    }
    Path(path).write_text(json.dumps(document, indent=2, default=str) + "\n")


@contextlib.contextmanager
def _namespace(chosen: str | None) -> Iterator[str]:
    """Run with ``chosen`` or a fresh namespace in the environment."""
    namespace = chosen or f"cli{os.getpid()}{uuid.uuid4().hex[:8]}"
    previous = os.environ.get(NAMESPACE_ENV)
    os.environ[NAMESPACE_ENV] = namespace
    try:
        yield namespace
    finally:
        if previous is None:
            os.environ.pop(NAMESPACE_ENV, None)
        else:
            os.environ[NAMESPACE_ENV] = previous


@contextlib.contextmanager
def _harness_pool_scope(*, prepare: bool) -> Iterator[None]:
    """The invocation's replays' worker pool: with ``prepare``, its fork
    server starts now, while the scenarios load; it ends when the
    invocation is done (one a caller already had keeps running)."""
    from shmpipeline.testing.replay import (
        active_harness_pool,
        prepare_harness_pool,
        shutdown_harness_pool,
    )

    before = active_harness_pool()
    try:
        if prepare:
            prepare_harness_pool()
        yield
    finally:
        shutdown_harness_pool(keep=before)


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.all and args.scenarios:
        return "give scenario names or --all, not both"
    if not args.all and not args.scenarios:
        return "name the scenarios to replay (names, globs or files), or give --all"
    return None


def _run(args: argparse.Namespace, *, mode: str) -> int:
    problem = _usage_problem(args)
    if problem is not None:
        parser = args.verb_parser
        parser.print_usage(sys.stderr)
        _info(f"{parser.prog}: error: {problem}")
        return EXIT_USAGE
    with _harness_pool_scope(prepare=args.executor != "inline"):
        return _run_scenarios(args, mode=mode)


def _run_scenarios(args: argparse.Namespace, *, mode: str) -> int:
    """Replay (or run inline) the scenarios ``args`` name; the exit status."""
    from shmpipeline.testing.requirements import unmet_for_file
    from shmpipeline.testing.runner import check_scenario
    from shmpipeline.testing.scenario import load_scenarios

    paths = _resolve(args)
    reports: list[dict[str, Any]] = []
    failed = 0
    ran = 0
    scenarios = []
    registry = _registry(args)
    for path in paths:
        unmet = unmet_for_file(path, registry=registry)
        if unmet:
            reason = "; ".join(u.format() for u in unmet)
            hardware = any(u.hardware for u in unmet)
            if hardware and args.require_gpu:
                print(f"scenario {path.stem}: failed\n--require-gpu: {reason}")
                status, ok = "failed", False
                failed += 1
            else:
                print(f"scenario {path.stem}: skipped ({reason})", flush=True)
                status, ok = "skipped", True
            reports.append(
                {"scenario": path.stem, "status": status, "ok": ok, "message": reason}
            )
            continue
        scenarios.extend(
            load_scenarios(
                path,
                registry=registry,
                allow_outside_paths=args.allow_outside_paths,
            )
        )
    outcomes = []
    with _namespace(args.namespace):
        for scenario in scenarios:
            outcome = check_scenario(
                scenario, goldens=mode, executor=args.executor, registry=registry
            )
            outcomes.append(outcome)
            ran += 1
            print(outcome.format(), flush=True)
            reports.append(outcome.to_dict())
            if not outcome.ok:
                failed += 1
    _write_report(args.report, reports)
    if args.report_html:
        from shmpipeline.testing.report_html import (
            write_index,
            write_scenario_report,
            write_skipped_summary,
        )

        directory = Path(args.report_html)
        for outcome in outcomes:
            write_scenario_report(outcome, directory)
        for report in reports:
            if report.get("status") == "skipped":
                write_skipped_summary(report["scenario"], report["message"], directory)
        index = write_index(directory)
        _info(f"HTML report: {index}")
    if failed:
        total = ran + sum(1 for r in reports if "run" not in r)
        _info(f"shmpipeline: error: {failed} of {total} scenario(s) failed")
        return EXIT_FAILED
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    return _run(args, mode="regen" if args.force_regen else "compare")


def _cmd_record(args: argparse.Namespace) -> int:
    return _run(args, mode="update")
