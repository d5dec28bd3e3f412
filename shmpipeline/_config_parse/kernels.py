"""Parsing one ``kernels`` entry and its ``synchronization`` mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shmpipeline._config_parse.fields import (
    check_keys,
    open_entry,
    parse_auxiliary,
    parse_choice,
    parse_parameters,
    parse_positive_float,
    parse_stream_list,
    parse_text,
)
from shmpipeline._config_parse.wiring import KernelWiring, kernel_wiring_problems
from shmpipeline._problems import Loc, Problems, is_int, show
from shmpipeline.config import (
    DEFAULT_POLL_INTERVAL,
    SYNC_MODES,
    SYNC_ON_SKEW,
    TRIGGER_POLICIES,
    KernelConfig,
    SynchronizationConfig,
)

__all__ = ["parse_kernel_entry"]

_KERNEL_KEYS = (
    "name",
    "kind",
    "input",
    "output",
    "auxiliary",
    "operation",
    "parameters",
    "read_timeout",
    "pause_sleep",
    "poll_interval",
    "inputs",
    "outputs",
    "trigger_policy",
    "synchronization",
    "propagate_frame_id",
)
_SYNC_KEYS = ("mode", "on_skew", "max_skew_generations", "max_wait_s", "timeout")


def _parse_synchronization(
    value: Any, where: str, loc: Loc, problems: Problems
) -> SynchronizationConfig | None:
    """The ``synchronization`` mapping of a multi-input kernel."""
    if not isinstance(value, Mapping):
        problems.add(
            where, "synchronization", f"must be a mapping, got {show(value)}", loc
        )
        return None
    before = len(problems)
    label = "synchronization"
    check_keys(value, _SYNC_KEYS, where, loc, problems, field=label)
    mode = parse_choice(
        value.get("mode", "count"), SYNC_MODES, where, f"{label}.mode",
        (*loc, "mode"), problems,
    )
    on_skew = parse_choice(
        value.get("on_skew", "drop_older"), SYNC_ON_SKEW, where,
        f"{label}.on_skew", (*loc, "on_skew"), problems,
    )
    max_skew = value.get("max_skew_generations", 16)
    if not is_int(max_skew) or max_skew < 1 or max_skew > 2**31:
        problems.add(
            where,
            f"{label}.max_skew_generations",
            f"must be a positive integer, got {show(max_skew)}",
            (*loc, "max_skew_generations"),
        )
    if value.get("max_wait_s") is not None and value.get("timeout") is not None:
        problems.add(
            where,
            f"{label}.timeout",
            "is an alias of max_wait_s; give one of the two",
            (*loc, "timeout"),
        )
    wait_key = "max_wait_s" if value.get("max_wait_s") is not None else "timeout"
    wait_raw = value.get(wait_key)
    max_wait = None
    if wait_raw is not None:
        max_wait = parse_positive_float(
            wait_raw, where, f"{label}.{wait_key}", (*loc, wait_key), problems
        )
    if len(problems) > before:
        return None
    return SynchronizationConfig(
        mode=mode, on_skew=on_skew, max_skew_generations=int(max_skew),
        max_wait_s=max_wait,
    )


def parse_kernel_entry(
    raw: Any, base: str, loc: Loc, problems: Problems
) -> tuple[KernelConfig | None, KernelWiring | None]:
    """Parse one ``kernels`` entry; return (config or None, wiring or None)."""
    before = len(problems)
    where = open_entry(
        raw, base, loc, problems,
        needs="name, kind, input and output", allowed=_KERNEL_KEYS,
    )
    if where is None:
        return None, None
    name = parse_text(raw.get("name"), where, "name", (*loc, "name"), problems)
    kind = parse_text(raw.get("kind"), where, "kind", (*loc, "kind"), problems)
    trigger_refs = parse_stream_list(raw, "input", "inputs", where, loc, problems)
    output_refs = parse_stream_list(raw, "output", "outputs", where, loc, problems)
    input_name = trigger_refs[0][0] if trigger_refs else None
    output_name = output_refs[0][0] if output_refs else None
    auxiliary, aux_ok = parse_auxiliary(
        raw.get("auxiliary"), where, (*loc, "auxiliary"), problems
    )
    operation = raw.get("operation")
    if operation is not None:
        operation = parse_text(
            operation, where, "operation", (*loc, "operation"), problems
        )
    parameters = parse_parameters(
        raw.get("parameters"), where, (*loc, "parameters"), problems
    )
    timing: dict[str, float | None] = {}
    for key, default in (
        ("read_timeout", 1.0),
        ("pause_sleep", 0.01),
        ("poll_interval", DEFAULT_POLL_INTERVAL),
    ):
        value = raw.get(key)
        timing[key] = (
            default
            if value is None
            else parse_positive_float(value, where, key, (*loc, key), problems)
        )

    several = len(trigger_refs or ()) > 1
    policy_raw = raw.get("trigger_policy")
    trigger_policy = (
        ("all_new" if several else "any_new")
        if policy_raw is None
        else parse_choice(
            policy_raw, TRIGGER_POLICIES, where, "trigger_policy",
            (*loc, "trigger_policy"), problems,
        )
    )
    synchronization = None
    if raw.get("synchronization") is not None:
        synchronization = _parse_synchronization(
            raw["synchronization"], where, (*loc, "synchronization"), problems
        )
        if (
            synchronization is not None
            and synchronization.mode == "matching_frame_id"
            and trigger_policy not in (None, "all_new")
        ):
            problems.add(
                where,
                "synchronization",
                "mode 'matching_frame_id' requires trigger_policy 'all_new'",
                (*loc, "synchronization"),
            )
    propagate = raw.get("propagate_frame_id", False)
    if propagate is None:
        propagate = False
    if not isinstance(propagate, bool):
        problems.add(
            where,
            "propagate_frame_id",
            f"must be true or false, got {show(propagate)}",
            (*loc, "propagate_frame_id"),
        )

    ref = KernelWiring(
        where, loc, name, input_name, output_name, auxiliary,
        inputs=trigger_refs, outputs=output_refs,
    )
    kernel_wiring_problems(ref, problems)
    if len(problems) > before or not aux_ok:
        return None, ref
    assert trigger_refs is not None and output_refs is not None
    assert name and kind and input_name and output_name and parameters is not None
    config = KernelConfig(
        name=name,
        kind=kind,
        input=input_name,
        output=output_name,
        auxiliary=tuple(binding for binding, _ in auxiliary),
        operation=operation,
        parameters=parameters,
        read_timeout=timing["read_timeout"],  # type: ignore[arg-type]
        pause_sleep=timing["pause_sleep"],  # type: ignore[arg-type]
        poll_interval=timing["poll_interval"],  # type: ignore[arg-type]
        outputs=tuple(n for n, _, _ in output_refs) if raw.get("outputs") else (),
        inputs=tuple(n for n, _, _ in trigger_refs) if raw.get("inputs") else (),
        trigger_policy=trigger_policy,  # type: ignore[arg-type]
        synchronization=synchronization,
        propagate_frame_id=propagate,
    )
    return config, ref
