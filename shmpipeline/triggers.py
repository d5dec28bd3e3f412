"""Trigger sets: when a kernel with several trigger inputs runs, and on
which frames.

A kernel reading ``inputs: [a, b, ...]`` waits for a *trigger set*: with
``trigger_policy: all_new`` a new frame on every input, with ``any_new`` a
new frame on any. Under ``synchronization: {mode: matching_frame_id}`` the
set is also accepted only when every frame carries the same ``frame_id``
token, so a fan-in never combines frames of different generations:

- the newest token is the target; inputs behind it are *laggards*. With
  ``on_skew: drop_older`` the laggards' frames are dropped and the set waits
  for their next publication (one ``frame_sync_skipped_generations``), the
  leaders' frames are kept;
- a skew wider than ``max_skew_generations``, or a set still incomplete or
  mismatched ``max_wait_s`` after it started waiting, is abandoned whole
  (one ``frame_sync_timeouts``): a dead branch stalls the kernel at most
  ``max_wait_s`` at a time, and the live branches' frames are consumed
  meanwhile. ``max_wait_s`` also bounds a ``count``-mode ``all_new`` set.

Every mismatch seen counts one ``frame_sync_skew_events``. The accepted
set's token (the matched ``frame_id``; in ``count`` mode the newest one when
``propagate_frame_id`` is set) is what the kernel's outputs carry.

Each input's frame is read with the stream's consistent read, which also
yields the token of exactly that frame, so a token is never torn from its
payload.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shmpipeline.config import KernelConfig

#: longest a wait blocks on one input when any of several may complete the set
POLL_SLICE_S = 0.002


class TriggerStream(Protocol):
    """What a trigger set needs of a stream handle."""

    @property
    def count(self) -> int: ...

    @property
    def last_frame_id(self) -> int: ...

    @property
    def last_read_count(self) -> int: ...

    def read_into(self, out: Any) -> int: ...

    def wait_new(self, last_count: int, timeout: float | None = None) -> int: ...


@dataclass
class FanInMetrics:
    """Counters of a synchronised fan-in (worker status fields)."""

    skew_events: int = 0
    skipped_generations: int = 0
    timeouts: int = 0

    def as_status(self) -> dict[str, int]:
        """The counters under their worker-status names."""
        return {
            "frame_sync_skew_events": self.skew_events,
            "frame_sync_skipped_generations": self.skipped_generations,
            "frame_sync_timeouts": self.timeouts,
        }


class TriggerSet:
    """Waits for the next trigger set of one kernel and reads it.

    ``streams`` are the trigger handles in ``inputs`` order and ``buffers``
    one preallocated frame per stream. After :meth:`wait` returns True,
    :attr:`frames` (the buffers, a tuple in ``inputs`` order) hold the set
    and :attr:`frame_id` the token to publish (``None``: the outputs' own
    counts). A set of one trigger (a multi-output kernel) fires on each new
    frame and always carries its token. Only frames published after
    construction (or after :meth:`skip_pending`) count.
    """

    def __init__(
        self,
        config: KernelConfig,
        streams: Sequence[TriggerStream],
        buffers: Sequence[Any],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        sync = config.synchronization
        self.streams = tuple(streams)
        self.frames = tuple(buffers)
        self.all_new = config.trigger_policy == "all_new"
        self.matching = config.requires_matching_frame_id
        # one trigger's token is always carried, as in the single-input loop
        self.propagate = (
            config.propagate_frame_id or self.matching or len(self.streams) == 1
        )
        self.max_skew = sync.max_skew_generations if sync is not None else None
        self.max_wait_s = sync.max_wait_s if sync is not None else None
        self.metrics = FanInMetrics()
        self.frame_id: int | None = None
        self._clock = clock
        self._tokens = [0] * len(self.streams)
        self._read_counts = [0] * len(self.streams)
        self._seen = [0] * len(self.streams)
        self._stalled_since: float | None = None
        self.skip_pending()

    @property
    def trigger_input(self) -> Any:
        """What the kernel's compute receives: the one frame, or the tuple of
        frames in ``inputs`` order."""
        return self.frames[0] if len(self.frames) == 1 else self.frames

    def skip_pending(self) -> None:
        """Treat every frame published so far as seen (start, after a pause)."""
        self._seen = [stream.count for stream in self.streams]
        self._stalled_since = None

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a complete trigger set; True when
        one was read into :attr:`frames`."""
        deadline = self._clock() + timeout
        while True:
            counts = [stream.count for stream in self.streams]
            advanced = [now != seen for now, seen in zip(counts, self._seen, strict=True)]
            if all(advanced) or (not self.all_new and any(advanced)):
                if self._take():
                    return True
            elif any(advanced):
                self._check_stall(counts, advanced)
            remaining = deadline - self._clock()
            if remaining <= 0:
                return False
            self._block(advanced, remaining)

    # --- internals -------------------------------------------------------------------

    def _block(self, advanced: list[bool], remaining: float) -> None:
        """Sleep on the first input still missing (all_new) or briefly on the
        first input (any_new: any of them may complete the set)."""
        pending = [i for i, done in enumerate(advanced) if not done]
        index = pending[0] if pending and self.all_new else 0
        limit = remaining
        if not self.all_new or len(pending) < len(advanced):
            limit = min(limit, POLL_SLICE_S)
        if self._stalled_since is not None and self.max_wait_s is not None:
            left = self._stalled_since + self.max_wait_s - self._clock()
            limit = min(limit, max(left, 0.0))
        self.streams[index].wait_new(self._seen[index], timeout=limit)

    def _take(self) -> bool:
        """Read the set; accept it, or drop what the policy says to drop."""
        for i, stream in enumerate(self.streams):
            stream.read_into(self.frames[i])
            self._tokens[i] = stream.last_frame_id
            self._read_counts[i] = stream.last_read_count
        tokens = self._tokens
        target = max(tokens)
        if not self.matching or min(tokens) == target:
            self._seen = list(self._read_counts)
            self._stalled_since = None
            self.frame_id = target if self.propagate else None
            return True
        self.metrics.skew_events += 1
        now = self._clock()
        if self._stalled_since is None:
            self._stalled_since = now
        too_wide = self.max_skew is not None and target - min(tokens) > self.max_skew
        if too_wide or self._waited_too_long(now):
            self._abandon(self._read_counts)
            return False
        self.metrics.skipped_generations += 1
        for i, token in enumerate(tokens):
            if token < target:  # drop_older: wait for this branch's next frame
                self._seen[i] = self._read_counts[i]
        return False

    def _check_stall(self, counts: list[int], advanced: list[bool]) -> None:
        """An incomplete all_new set: give up after ``max_wait_s``."""
        now = self._clock()
        if self._stalled_since is None:
            self._stalled_since = now
        elif self._waited_too_long(now):
            seen = zip(counts, advanced, self._seen, strict=True)
            self._abandon([now if new else old for now, new, old in seen])

    def _waited_too_long(self, now: float) -> bool:
        return (
            self.max_wait_s is not None
            and self._stalled_since is not None
            and now - self._stalled_since >= self.max_wait_s
        )

    def _abandon(self, counts: Sequence[int]) -> None:
        self.metrics.timeouts += 1
        self._seen = list(counts)
        self._stalled_since = None


def fan_in(config: KernelConfig) -> bool:
    """Whether ``config``'s worker reads its triggers through a
    :class:`TriggerSet` (several trigger inputs)."""
    return len(config.trigger_inputs) > 1


__all__ = ["FanInMetrics", "POLL_SLICE_S", "TriggerSet", "TriggerStream", "fan_in"]
