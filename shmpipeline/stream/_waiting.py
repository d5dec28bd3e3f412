"""The waiting side of a stream handle: spin, sleep on the futex, wake.

:class:`StreamWaiting` adds the waits to a mapped segment
(:class:`~shmpipeline.stream._mapping.StreamMapping`):
:class:`~shmpipeline.stream.SharedStream` inherits ``wait_new``,
``wait_for_count``, ``wait_for_frame_id``, ``wake_waiters``, the wait policy
and writer liveness from it.

The handshake with a publisher (``SharedStream.commit_write``), each side in
this order:

* waiter: read the futex word; raise the *waiters* flag; re-check ``count``
  (and the kick counter); ``FUTEX_WAIT`` on the word read first.
* publisher: store ``count``; then, if the flag is up, clear it, bump the
  word and ``FUTEX_WAKE``; otherwise only bump the word.

A waiter whose re-check missed the new count sleeps on a word the publisher
then bumps, so the kernel refuses the sleep or the wake-up finds it. The
flag is set without a fence where the CPU does not need one for the seqlock
(``NEEDS_FENCE``), which leaves a short window where both sides read the old
values; each sleep is therefore capped at :data:`SLICE_NS`, after which the
waiter re-checks (this also notices a handle closed meanwhile).

Before sleeping, a waiter spins on ``count`` as its wait policy says
(:mod:`shmpipeline.stream.wait_policy`: adaptive by default, ``spin:<µs>``,
``busy`` or ``sleep``). A wait without a timeout checks, once per
:data:`_WRITER_CHECK_NS`, that the registered writer (the creator, before
any write) is alive and raises :class:`StreamWriterDiedError` when it is
not: a frame can then never come. Waits with a timeout just time out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from time import monotonic_ns

from ..errors import StreamClosedError, StreamWriterDiedError
from . import _header as H
from ._futex import (
    FUTEX_AVAILABLE,
    NEEDS_FENCE,
    current_cpu,
    futex_wait,
    futex_wake,
    memory_fence,
    timespec,
)
from ._header import (
    I_FUTEX,
    I_WAITERS,
    Q_COUNT,
    Q_KICK,
    Q_WRITER_CPU,
    Q_WRITER_PID,
    Q_WRITER_START,
)
from ._mapping import StreamMapping
from ._process import CURRENT_PID, process_alive
from ._segment import Segment
from .checks import check_after, check_frame_id, timeout_ns
from .wait_policy import WaitPolicy, parse_wait_policy

__all__ = ["SLICE_NS", "StreamWaiting"]

#: Longest single futex sleep; a waiter re-checks its condition after it.
SLICE_NS = 50_000_000
#: Adaptive policy: the spin is ``_SPIN_ARRIVAL_FACTOR`` times the last
#: frame's arrival delay plus ``_SPIN_MIN_NS``, decaying by 1/8 per wait
#: when arrivals get quicker (see :mod:`shmpipeline.stream.wait_policy`).
_SPIN_MIN_NS = 5_000
_SPIN_ARRIVAL_FACTOR = 4
#: How often (ns) a wait without a timeout checks that the writer lives.
_WRITER_CHECK_NS = 50_000_000

_U32 = 0xFFFFFFFF
_MODE_ADAPTIVE, _MODE_SPIN, _MODE_BUSY, _MODE_SLEEP = 0, 1, 2, 3
_MODE_CODES = {"adaptive": 0, "spin": 1, "busy": 2, "sleep": 3}


class StreamWaiting(StreamMapping):
    """Waits and wakes on a mapped stream segment (see the module docstring).

    The stream handle built on it provides the reads of the latest slot's
    metadata (``frame_id``, ``_latest_meta(field)``, seqlock reads) and its
    ``_last_read_count``.
    """

    frame_id: int
    _latest_meta: Callable[[int], int]
    _last_read_count: int

    def __init__(
        self, segment: Segment, static: dict, *, name: str, namespace: str | None
    ) -> None:
        super().__init__(segment, static, name=name, namespace=namespace)
        self._slice_ts = timespec(SLICE_NS)
        self.wait_policy = None  # the process default, see wait_policy

    # --- the policy and the writer ---------------------------------------------------

    @property
    def wait_policy(self) -> WaitPolicy:
        """How this handle's waits spin and sleep (settable: a
        :class:`WaitPolicy`, text such as ``"busy"`` or ``"spin:50"``, or
        ``None`` for the process default)."""
        return self._wait_policy

    @wait_policy.setter
    def wait_policy(self, value: WaitPolicy | str | None) -> None:
        policy = parse_wait_policy(value, source=f"stream {self._name!r}: wait_policy")
        self._wait_policy = policy
        self._mode = _MODE_CODES[policy.mode]
        self._spin_cap_ns = policy.spin_ns
        # adaptive starts at its cap: the first frames after a start are the
        # ones a driver waits on most closely
        self._spin_ns = 0 if policy.mode == "sleep" else policy.spin_ns

    @property
    def spin_ns(self) -> int:
        """The spin budget of this handle's next wait, in ns (diagnostic:
        what the adaptive policy has learnt)."""
        return self._spin_ns if self._mode != _MODE_BUSY else -1

    @property
    def kick_count(self) -> int:
        """How many :meth:`wake_waiters` calls this stream has seen (any
        process): a waiter passes the value it read before it started
        expecting a frame as ``kicks_seen``, so a kick in between is not
        missed."""
        self._ensure_open()
        return self._h64[Q_KICK]

    @property
    def writer_pid(self) -> int:
        """Pid of the process that last started writing this stream (0 before
        any write)."""
        self._ensure_open()
        return self._h64[Q_WRITER_PID]

    def writer_alive(self) -> bool:
        """Whether a frame can still come: the registered writer's process
        (the creator's before any write) is alive."""
        self._ensure_open()
        h = self._h64
        pid, start = h[Q_WRITER_PID], h[Q_WRITER_START]
        if not pid:
            pid, start = self._creator_pid, self._creator_start
        return pid == CURRENT_PID[0] or process_alive(pid, start)

    def _check_writer(self) -> None:
        if not self.writer_alive():
            h = self._h64
            pid = h[Q_WRITER_PID] or self._creator_pid
            who = "writer" if h[Q_WRITER_PID] else "creator (nobody wrote yet)"
            raise StreamWriterDiedError(
                f"stream {self._name!r}: its {who} process {pid} is dead; no "
                "new frame can come (count stays "
                f"{h[Q_COUNT]})"
            )

    # --- waiting for a frame ---------------------------------------------------------

    def wait_new(self, last_count: int, timeout: float | None = None) -> int:
        """Wait until ``count != last_count``; return the current count.

        Returns early (count possibly unchanged) on timeout or when someone
        calls :meth:`wake_waiters`. Spins as :attr:`wait_policy` says, then
        sleeps on the futex in slices of ``SLICE_NS``. Without a timeout,
        :class:`StreamWriterDiedError` when the writer process is dead.
        """
        h = self._h64
        if self._closed:
            raise StreamClosedError(f"cannot wait on stream {self._name!r}: closed")
        count = h[Q_COUNT]
        if count != last_count:
            return count
        kick = h[Q_KICK]
        began = monotonic_ns()
        deadline = None if timeout is None else began + timeout_ns(timeout)
        mode = self._mode
        if mode == _MODE_BUSY:
            return self._busy_wait(last_count, kick, deadline)
        spin = self._spin_ns
        if spin and h[Q_WRITER_CPU] == current_cpu() + 1:
            # The writer last published from this very CPU (the scheduler
            # likes to wake a sleeper on its waker's CPU): a spin here would
            # only keep it from running. Sleep at once; the futex wake-up
            # preempts a busy writer promptly, where a yield would not.
            spin = 0
        spin_end = began + spin
        if deadline is not None and deadline < spin_end:
            spin_end = deadline
        while spin:
            count = h[Q_COUNT]
            if count != last_count or h[Q_KICK] != kick:
                if mode == _MODE_ADAPTIVE and count != last_count:
                    self._learn(monotonic_ns() - began)
                return count
            if monotonic_ns() >= spin_end:
                break
        h32 = self._h32
        address = self._futex_addr
        slice_ts = self._slice_ts
        nap = 50e-6
        next_check = began + _WRITER_CHECK_NS
        while True:
            if self._closed:
                raise StreamClosedError(f"stream {self._name!r} closed while waiting")
            # The handshake (module docstring): word, flag, re-check, sleep.
            word = h32[I_FUTEX]
            h32[I_WAITERS] = 1
            if NEEDS_FENCE:
                memory_fence()
            count = h[Q_COUNT]
            if count != last_count or h[Q_KICK] != kick:
                if mode == _MODE_ADAPTIVE and count != last_count:
                    # learn from the publish time, not from our wake-up
                    self._learn(self._latest_meta(H.SLOT_WRITE_NS) - began)
                return count
            if deadline is None:
                ts = slice_ts
                now = monotonic_ns()
                if now >= next_check:
                    next_check = now + _WRITER_CHECK_NS
                    self._check_writer()
            else:
                remaining = deadline - monotonic_ns()
                if remaining <= 0:
                    return count
                ts = slice_ts if remaining >= SLICE_NS else timespec(remaining)
            if FUTEX_AVAILABLE:
                futex_wait(address, word, ts)
            else:  # pragma: no cover - polling with backoff off Linux
                time.sleep(min(nap, ts.tv_sec + ts.tv_nsec * 1e-9))
                nap = min(nap * 2, 0.002)

    def _learn(self, arrival_ns: int) -> None:
        """Adaptive policy: spin a few times the last arrival delay next time
        (decaying slowly); halve the spin after a frame later than the cap
        (one preempted peer does not stop the spinning; a slow peer is slept
        on after a few frames)."""
        cap = self._spin_cap_ns
        if arrival_ns > cap:
            spin = self._spin_ns >> 1
            self._spin_ns = spin if spin >= _SPIN_MIN_NS else 0
            return
        want = _SPIN_ARRIVAL_FACTOR * max(arrival_ns, 0) + _SPIN_MIN_NS
        decayed = self._spin_ns - (self._spin_ns >> 3)
        self._spin_ns = min(cap, max(want, decayed))

    def _busy_wait(self, last_count: int, kick: int, deadline: int | None) -> int:
        """The ``busy`` policy: spin until a frame, a kick or the deadline."""
        h = self._h64
        next_check = monotonic_ns() + _WRITER_CHECK_NS
        while True:
            for _ in range(256):
                count = h[Q_COUNT]
                if count != last_count or h[Q_KICK] != kick:
                    return count
            now = monotonic_ns()
            if deadline is not None and now >= deadline:
                return count
            if self._closed:
                raise StreamClosedError(f"stream {self._name!r} closed while waiting")
            if deadline is None and now >= next_check:
                next_check = now + _WRITER_CHECK_NS
                self._check_writer()

    def wait_unread(self, timeout: float | None) -> None:
        """Wait until a frame this handle has not read is published
        (``TimeoutError`` on timeout); at once when there is one. The wait
        of ``read_new_into``, for handles layered on this one."""
        if self._closed:
            raise StreamClosedError(f"cannot read stream {self._name!r}: closed")
        last = self._last_read_count
        if self._h64[Q_COUNT] == last:
            self._wait_changed(last, timeout)

    def _wait_changed(self, last: int, timeout: float | None) -> None:
        """Wait until count != last, ignoring kicks; TimeoutError on timeout."""
        if timeout is None:
            while self.wait_new(last, None) == last:
                pass
            return
        deadline = monotonic_ns() + timeout_ns(timeout)
        while True:
            if self.wait_new(last, max(0, deadline - monotonic_ns()) * 1e-9) != last:
                return
            if monotonic_ns() >= deadline:
                raise TimeoutError(
                    f"no new frame on stream {self._name!r} within {timeout} s"
                )

    # --- waiting for a condition -----------------------------------------------------

    def wait_for_count(self, after: int, timeout: float | None = None) -> int:
        """Wait until ``count > after`` and return the count.

        Level-triggered: a frame published before the call counts, so a
        request/reply exchange cannot miss its reply. ``TimeoutError`` when
        no such frame comes within ``timeout`` seconds (None: wait forever,
        or :class:`StreamWriterDiedError` once the writer is dead);
        ``ValueError`` if ``after`` is not a non-negative integer.
        """
        baseline = check_after(after)

        def past(count: int) -> int | None:
            return count if count > baseline else None

        def late(count: int) -> str:
            return (
                f"no frame past count {baseline} on stream {self._name!r} "
                f"within {timeout} s (count {count})"
            )

        return self._wait_until(past, timeout, late)

    def wait_for_frame_id(
        self,
        target: int,
        timeout: float | None = None,
        *,
        interruptible: bool = False,
        kicks_seen: int | None = None,
    ) -> int:
        """Wait until the latest published frame id is at least ``target``
        (and something was published); return that frame id.

        ``TimeoutError`` after ``timeout`` seconds (None: wait forever, or
        :class:`StreamWriterDiedError` once the writer is dead).
        ``interruptible``: also return when :meth:`wake_waiters` is called,
        with the latest frame id then (possibly below ``target``; 0 before
        any write), so a worker can re-read its command. ``kicks_seen`` (a
        :attr:`kick_count` read earlier; implies ``interruptible``): a kick
        since that reading returns at once, even one before this call.
        """
        target = check_frame_id(target)
        self._ensure_open()
        if self._h64[Q_COUNT]:  # already there: the common case of a lockstep wait
            latest = self.frame_id
            if latest >= target:
                return latest

        def at_target(count: int) -> int | None:
            latest = self.frame_id if count else None
            return latest if latest is not None and latest >= target else None

        def late(count: int) -> str:
            return (
                f"stream {self._name!r} did not publish frame id {target} "
                f"within {timeout} s (latest id {self.frame_id if count else None})"
            )

        def latest_id() -> int:
            return self.frame_id if self._h64[Q_COUNT] else 0

        kicked = latest_id if interruptible or kicks_seen is not None else None
        return self._wait_until(at_target, timeout, late, kicked, kicks_seen)

    def _wait_until(
        self,
        reached: Callable[[int], int | None],
        timeout: float | None,
        late: Callable[[int], str],
        kicked: Callable[[], int] | None = None,
        kicks_seen: int | None = None,
    ) -> int:
        """Wait, waking on each publish, until ``reached(count)`` gives a
        value (not None) and return it; ``TimeoutError(late(count))`` after
        ``timeout`` seconds. With ``kicked``, a :meth:`wake_waiters` call
        returns ``kicked()`` instead (one since ``kicks_seen``, when given,
        rather than since this call). Without a timeout the wait lasts while
        the writer lives (:class:`StreamWriterDiedError` once it is dead)."""
        deadline = None if timeout is None else monotonic_ns() + timeout_ns(timeout)
        self._ensure_open()
        h = self._h64
        kick = h[Q_KICK] if kicks_seen is None else kicks_seen
        while True:
            if kicked is not None and h[Q_KICK] != kick:
                return kicked()
            count = h[Q_COUNT]
            value = reached(count)
            if value is not None:
                return value
            if deadline is None:
                self.wait_new(count, None)
                continue
            remaining = deadline - monotonic_ns()
            if remaining <= 0:
                raise TimeoutError(late(count))
            self.wait_new(count, remaining * 1e-9)

    # --- waking ----------------------------------------------------------------------

    def wake_waiters(self) -> None:
        """Make every current :meth:`wait_new` on this stream (any process)
        return now, even without a new frame."""
        if self._closed:
            raise StreamClosedError(f"stream {self._name!r} is closed")
        h, h32 = self._h64, self._h32
        h[Q_KICK] = h[Q_KICK] + 1
        h32[I_WAITERS] = 0
        h32[I_FUTEX] = (h32[I_FUTEX] + 1) & _U32
        if NEEDS_FENCE:
            memory_fence()
        futex_wake(self._futex_addr)
