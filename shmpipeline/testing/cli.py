"""``shmpipeline scenario list|run|record``.

Registered by :func:`register_commands` through the hook of
:mod:`shmpipeline.cli`::

    shmpipeline scenario list [DIR...] [--json]
    shmpipeline scenario run NAME|FILE... [--dir DIR] [--report out.json] [--require-gpu]
    shmpipeline scenario record NAME|FILE... [--dir DIR]

``run`` prints the same report as the pytest plugin and exits 1 when a
scenario fails (golden mismatch, unexpected kernel failure, missing golden),
0 when all pass. A scenario requiring a GPU is skipped (exit 0, said on
stderr) where no CUDA device is present, unless ``--require-gpu``.
Names are looked up in ``--dir`` (default ``scenarios/`` under the working
directory if it exists, else the working directory).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register_commands"]

EXIT_OK = 0
EXIT_FAILED = 1


def _default_dirs() -> list[Path]:
    cwd = Path.cwd()
    return [cwd / "scenarios"] if (cwd / "scenarios").is_dir() else [cwd]


def register_commands(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``scenario`` command and its verbs to the CLI parser."""
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
    p.add_argument(
        "dirs",
        nargs="*",
        metavar="DIR",
        help="directories to search (default: ./scenarios if present, else .)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p.set_defaults(handler=_cmd_list)

    for verb, help_text in (
        ("run", "replay scenarios and compare them with their goldens"),
        ("record", "replay scenarios and (re)write their golden files"),
    ):
        p = verbs.add_parser(verb, parents=parents, help=help_text)
        p.add_argument(
            "scenarios", nargs="+", metavar="NAME|FILE", help="scenario names or files"
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
        if verb == "run":
            p.add_argument(
                "--require-gpu",
                action="store_true",
                help="fail (instead of skipping) scenarios needing a missing GPU",
            )
        p.set_defaults(handler=_cmd_run if verb == "run" else _cmd_record)


def _info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmd_list(args: argparse.Namespace) -> int:
    from shmpipeline.errors import ScenarioError
    from shmpipeline.testing.scenario import find_scenarios, load_scenario

    dirs = [Path(d) for d in args.dirs] or _default_dirs()
    for directory in dirs:
        if not directory.is_dir():
            raise ScenarioError(f"not a directory: {directory}")
    rows: list[dict[str, Any]] = []
    for path in find_scenarios(dirs):
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            rows.append({"name": path.stem, "path": str(path), "error": str(exc)})
            continue
        golden = scenario.golden
        rows.append(
            {
                "name": scenario.name,
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


def _resolve(names: list[str], dirs: list[str]) -> list[Path]:
    from shmpipeline.testing.scenario import resolve_scenario

    search = [Path(d) for d in dirs] or _default_dirs()
    return [resolve_scenario(name, search) for name in names]


def _write_report(path: str | None, outcomes: list[dict[str, Any]]) -> None:
    if path is None:
        return
    document = {
        "ok": all(item.get("ok", False) for item in outcomes),
        "scenarios": outcomes,
    }
    Path(path).write_text(json.dumps(document, indent=2, default=str) + "\n")


def _run(args: argparse.Namespace, *, update: bool) -> int:
    from shmpipeline.testing.gpu_probe import cuda_probe
    from shmpipeline.testing.runner import check_scenario
    from shmpipeline.testing.scenario import declared_requirements, load_scenario

    paths = _resolve(args.scenarios, args.dirs)
    reports: list[dict[str, Any]] = []
    failed = 0
    runnable = []
    for path in paths:
        if "gpu" in declared_requirements(path):
            present, reason = cuda_probe()
            if not present:
                name = path.stem
                if getattr(args, "require_gpu", False):
                    print(f"scenario {name}: failed\nrequires a GPU: {reason}")
                    status, ok = "failed", False
                    failed += 1
                else:
                    _info(f"scenario {name}: skipped ({reason})")
                    status, ok = "skipped", True
                reports.append(
                    {"scenario": name, "status": status, "ok": ok, "message": reason}
                )
                continue
        runnable.append(path)
    scenarios = [load_scenario(path) for path in runnable]
    for scenario in scenarios:
        outcome = check_scenario(scenario, update_goldens=update)
        print(outcome.format(), flush=True)
        reports.append(outcome.to_dict())
        if not outcome.ok:
            failed += 1
    _write_report(args.report, reports)
    if failed:
        _info(f"shmpipeline: error: {failed} of {len(scenarios)} scenario(s) failed")
        return EXIT_FAILED
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    return _run(args, update=False)


def _cmd_record(args: argparse.Namespace) -> int:
    return _run(args, update=True)
