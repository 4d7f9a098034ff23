"""The session clock: seconds since the session started, on the event loop's monotonic clock.

Audio output keeps its own sample clock (samples actually played); when a chunk is queued, its
start on this clock is ``now + what is still queued ahead of it``, so mouth shapes, recordings
and plugins all share one timeline with the sound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class SessionClock:
    def __init__(self, now: Callable[[], float] | None = None) -> None:
        self._now = now or _loop_time
        self.t0 = self._now()

    def __call__(self) -> float:
        return self._now() - self.t0

    def to_session(self, monotonic_t: float) -> float:
        """A ``time.monotonic()``/loop timestamp (as on events) on this clock."""
        return monotonic_t - self.t0


def _loop_time() -> float:
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()
