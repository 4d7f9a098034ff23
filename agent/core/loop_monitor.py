"""How late the event loop wakes, and who held it.

A heartbeat task sleeps ``interval`` and records how much later than asked it woke: the loop
lag, which is what every control event (an interrupt, a stop) waits on top of its own work. A
watchdog thread watches the heartbeat; when the loop has not beaten for ``stall`` seconds it
looks at what the loop's thread is running and names it (file, line, function), once per stall,
so a plugin or a handler that blocks the loop is named while it blocks, not after.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from array import array
from collections.abc import Callable

log = logging.getLogger(__name__)

MAX_SAMPLES = 400_000  # about an hour at 100 Hz; beyond it the oldest half is dropped
STARVED = 0.5  # a stall in which the loop's thread used less CPU than this share of it was a wait


class LoopMonitor:
    def __init__(self, interval: float = 0.01, stall: float = 0.25,
                 on_stall: Callable[[float, str], None] | None = None) -> None:
        self.interval = interval
        self.stall = stall
        self.on_stall = on_stall  # called on the loop with (seconds blocked, where)
        self.lags_ms: array[float] = array("d")
        self.stalls: list[tuple[float, str]] = []  # (seconds, where): the loop's thread was busy
        self.starved: list[tuple[float, str]] = []  # ... it waited for the CPU or the GIL instead
        self._native_id = 0
        self._beat_cpu = 0.0
        self._beat = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id: int | None = None
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    async def run(self) -> None:
        """The heartbeat; start it as an owned task. The watchdog lives as long as it does."""
        self._loop = asyncio.get_running_loop()
        self._thread_id = threading.get_ident()
        self._native_id = threading.get_native_id()
        self._beat_cpu = time.thread_time()
        self._beat = time.monotonic()
        self._stop.clear()
        self._watchdog = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
        self._watchdog.start()
        try:
            while True:
                asked = self._loop.time() + self.interval
                await asyncio.sleep(self.interval)
                self._record(max(0.0, self._loop.time() - asked) * 1000.0)
                self._beat = time.monotonic()
                self._beat_cpu = time.thread_time()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the watchdog thread (joined: it wakes every few ms)."""
        self._stop.set()
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join(timeout=1.0)
        self._watchdog = None

    def _record(self, ms: float) -> None:
        if len(self.lags_ms) >= MAX_SAMPLES:
            del self.lags_ms[: MAX_SAMPLES // 2]
        self.lags_ms.append(ms)

    def percentile(self, q: float) -> float:
        if not self.lags_ms:
            return 0.0
        s = sorted(self.lags_ms)
        return s[min(len(s) - 1, int(q / 100.0 * len(s)))]

    # ------------------------------------------------------------------ the watchdog thread
    def _watch(self) -> None:
        reported_for = 0.0
        while not self._stop.wait(min(0.05, self.stall / 4)):
            since = time.monotonic() - self._beat
            if since < self.stall:
                reported_for = 0.0
                continue
            if reported_for == self._beat:
                continue
            reported_for = self._beat
            where, idle = self._where()
            cpu = self._loop_cpu()
            if idle and cpu is not None and cpu - self._beat_cpu < STARVED * since:
                # between callbacks, its own thread hardly running: other threads or processes
                # held the CPU or the GIL. A loaded machine, not a handler blocking the loop (a
                # handler that sleeps or waits on a lock is named, whatever its CPU)
                self.starved.append((since, where))
                log.debug("the event loop waited %.0f ms for the CPU (at %s)", since * 1000, where)
                continue
            log.warning("the event loop has been blocked for %.0f ms in %s", since * 1000, where)
            self.stalls.append((since, where))
            if self.on_stall is not None and self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self.on_stall, since, where)

    def _loop_cpu(self) -> float | None:
        """CPU seconds the loop's thread has used (Linux: /proc), None where it cannot be read."""
        try:
            with open(f"/proc/self/task/{self._native_id}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        except (OSError, ValueError, IndexError, AttributeError):
            return None

    def _where(self) -> tuple[str, bool]:
        """The innermost frame of the loop's thread that is not asyncio's or the interpreter's,
        and the task running it: its name says whose it is ("plugins/plugin:NAME/events", a
        session handler's "session/dispatch") even when the code is a library's. And whether
        the loop was between callbacks (no task running: in its own machinery)."""
        frame = sys._current_frames().get(self._thread_id or -1)
        task = asyncio.current_task(self._loop) if self._loop is not None else None  # a dict read
        in_task = f" in task {task.get_name()}" if task is not None else ""
        stdlib = os.path.dirname(os.__file__)
        while frame is not None:
            path = frame.f_code.co_filename
            if not path.startswith(stdlib) and "site-packages" not in path:
                return f"{_short(path)}:{frame.f_lineno} ({frame.f_code.co_qualname}){in_task}", task is None
            frame = frame.f_back
        return f"library code{in_task}", task is None


def _short(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:])
