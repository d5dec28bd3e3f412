"""How a stream reader waits for the next frame: spin, sleep, or learn.

A waiter first spins on the stream's count (a few hundred nanoseconds per
check, no syscall), then sleeps on the futex (a wake-up costs tens of
microseconds on a virtual machine). The policy decides how long to spin:

``adaptive`` (the default)
    Spin about twice as long as the last frame took to arrive, measured from
    the moment the wait began to the frame's *publish* timestamp (stored in
    the stream), capped at ``spin_us`` (default 200 µs). Each frame that
    came later than the cap halves the spin, so a slow peer is slept on
    after a few frames while one preempted peer does not stop the spinning
    (a timeout changes nothing). Because the arrival is read from the publish time and
    not from when the sleeper woke, a pair of processes that both fell
    asleep (each waiting for the other's wake-up) sees its replies arrive
    within the wake-up latency and spins through it on the next frame, so
    the pair cannot stay stuck in sleep-wake-sleep. A waiter on the CPU
    the stream's writer last published from sleeps at once instead: the
    scheduler likes to wake a sleeper on its waker's CPU, and spinning
    there would keep a writer pinned to it from producing the very frame
    the waiter wants.
``spin:<µs>``
    Always spin that long, then sleep (a fixed budget).
``busy``
    Never sleep: spin until the frame, the timeout or a kick. Burns one
    core per waiter; meant for loops with dedicated cores.
``sleep``
    Never spin: sleep on the futex at once. Cheapest on a shared machine,
    slowest per frame.

Set it per handle (``stream.wait_policy = "busy"``), per kernel
(``PipelineManager(..., wait_policy=...)``) or for every handle a process
opens from the environment variable ``SHMPIPELINE_WAIT_POLICY`` (read when
the handle is made, so spawned workers inherit it).

A kernel pinned to a CPU that another kernel of its pipeline is pinned to
as well gets ``sleep`` unless one of those says otherwise
(:func:`shared_cpu_wait_policy`): every microsecond it spins there is taken
from its sibling, which may be computing the very frame some stage waits
for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import ConfigValidationError

__all__ = [
    "WAIT_POLICY_ENV",
    "WaitPolicy",
    "default_wait_policy",
    "parse_wait_policy",
    "shared_cpu_wait_policy",
]

#: environment variable holding the default policy of new handles
WAIT_POLICY_ENV = "SHMPIPELINE_WAIT_POLICY"
#: adaptive spin cap (µs) when none is given
DEFAULT_ADAPTIVE_US = 200.0
#: longest fixed spin budget accepted (µs); longer waits should use ``busy``
MAX_SPIN_US = 1_000_000.0
_MODES = ("adaptive", "spin", "busy", "sleep")


@dataclass(frozen=True)
class WaitPolicy:
    """One wait policy: ``mode`` and its spin budget in microseconds
    (the cap for ``adaptive``, the fixed budget for ``spin``)."""

    mode: str = "adaptive"
    spin_us: float = DEFAULT_ADAPTIVE_US

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ConfigValidationError(
                f"wait policy: mode must be one of {', '.join(_MODES)}, got {self.mode!r}"
            )
        spin = self.spin_us
        if isinstance(spin, bool) or not isinstance(spin, (int, float)) or not (
            0 <= spin <= MAX_SPIN_US
        ):
            raise ConfigValidationError(
                f"wait policy {self.mode!r}: spin budget must be a number of "
                f"microseconds in 0..{MAX_SPIN_US:g}, got {spin!r}"
            )

    @property
    def spin_ns(self) -> int:
        """The spin budget in nanoseconds."""
        return int(self.spin_us * 1000)

    def __str__(self) -> str:
        if self.mode in ("busy", "sleep"):
            return self.mode
        return f"{self.mode}:{self.spin_us:g}"


def parse_wait_policy(value: WaitPolicy | str | None, *, source: str = "wait policy") -> WaitPolicy:
    """A :class:`WaitPolicy` from itself, ``None`` (the default), or text:
    ``adaptive``, ``adaptive:<cap µs>``, ``spin:<µs>``, ``busy``, ``sleep``.

    Bad text raises :class:`ConfigValidationError` naming ``source``.
    """
    if value is None:
        return default_wait_policy()
    if isinstance(value, WaitPolicy):
        return value
    if not isinstance(value, str):
        raise ConfigValidationError(
            f"{source}: expected a policy name such as 'adaptive', 'spin:50', "
            f"'busy' or 'sleep', got {type(value).__name__}"
        )
    mode, _, budget = value.strip().lower().partition(":")
    if mode not in _MODES:
        raise ConfigValidationError(
            f"{source}: unknown wait policy {value!r} (use adaptive, "
            "adaptive:<cap µs>, spin:<µs>, busy or sleep)"
        )
    if mode in ("busy", "sleep"):
        if budget:
            raise ConfigValidationError(f"{source}: {mode!r} takes no budget, got {value!r}")
        return WaitPolicy(mode, 0.0)
    if not budget:
        if mode == "spin":
            raise ConfigValidationError(
                f"{source}: 'spin' needs a budget in microseconds, e.g. 'spin:50'"
            )
        return WaitPolicy(mode, DEFAULT_ADAPTIVE_US)
    try:
        spin_us = float(budget.removesuffix("us"))
    except ValueError:
        raise ConfigValidationError(
            f"{source}: spin budget must be a number of microseconds, got {budget!r}"
        ) from None
    if spin_us != spin_us or not 0 <= spin_us <= MAX_SPIN_US:
        raise ConfigValidationError(
            f"{source}: spin budget must be in 0..{MAX_SPIN_US:g} µs, got {budget!r}"
        )
    return WaitPolicy(mode, spin_us)


def default_wait_policy() -> WaitPolicy:
    """The policy new handles get: ``SHMPIPELINE_WAIT_POLICY`` or adaptive.

    One CPU: spinning only delays the peer sharing it, so the default sleeps.
    """
    text = os.environ.get(WAIT_POLICY_ENV, "").strip()
    if text:
        return parse_wait_policy(text, source=WAIT_POLICY_ENV)
    if (os.cpu_count() or 1) <= 1:
        return WaitPolicy("sleep", 0.0)
    return WaitPolicy()


def shared_cpu_wait_policy(cpu: int | None, cpus: list[int | None]) -> str | None:
    """The default policy of a kernel pinned to ``cpu`` when the pipeline's
    kernels are pinned to ``cpus``: ``"sleep"`` when another kernel shares
    that CPU, else ``None`` (the process default).

    Spinning on a shared CPU only delays the sibling kernel there. Measured
    on a two-core VM with the five-stage loop (three kernels on one CPU, two
    on the other): sleeping workers delivered about twice the frames per
    second of adaptive ones, and the one-frame round trip through all five
    was quicker too. ``SHMPIPELINE_WAIT_POLICY``, when set, wins.
    """
    if cpu is None or cpus.count(cpu) < 2 or os.environ.get(WAIT_POLICY_ENV, "").strip():
        return None
    return "sleep"
