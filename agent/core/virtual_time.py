"""Virtual time for tests: an event loop whose clock jumps over idle time, so a 30 s
conversation runs in milliseconds and the same way every time (STYLE.md rule 14)."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from typing import Any


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock skips idle time.

    ``time()`` is the monotonic clock plus an offset; whenever nothing is ready to run and no
    work is out in a thread, the offset jumps to the next timer. Time spent in threads and in
    blocking code still counts (real time flows), so timeouts behave as in production. Not for
    network tests: a jump does not wait for sockets.
    """

    def __init__(self) -> None:
        super().__init__()
        self._offset = 0.0
        self._in_threads = 0

    def time(self) -> float:
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass without yielding: what a blocking call looks like to the loop."""
        self._offset += seconds

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:  # type: ignore[override]
        fut = super().run_in_executor(executor, func, *args)
        self._in_threads += 1
        fut.add_done_callback(self._thread_done)
        return fut

    def _thread_done(self, _: asyncio.Future[Any]) -> None:
        self._in_threads -= 1

    def _run_once(self) -> None:  # asyncio's private scheduler step (CPython 3.11+)
        scheduled = self._scheduled  # type: ignore[attr-defined]
        while scheduled and scheduled[0]._cancelled:  # as asyncio does, before looking at the head
            self._timer_cancelled_count -= 1  # type: ignore[attr-defined]
            heapq.heappop(scheduled)._scheduled = False
        if not self._ready and scheduled and not self._in_threads:  # type: ignore[attr-defined]
            gap = scheduled[0]._when - self.time()
            if gap > 0:
                # land just past the timer: a select timeout of a few ns would round up to 1 ms
                self._offset += gap + 1e-6
        super()._run_once()  # type: ignore[misc]


def run_virtual(main: Callable[[], Any]) -> Any:
    """Run ``main()`` (a coroutine function) on a fresh ``VirtualClockLoop``."""
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(main())
