"""Owned tasks: every task has an owner, and every shutdown has a deadline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskOwner:
    """Starts tasks, remembers them, and stops them within a deadline.

    A task that fails is logged once with its name and reported to ``on_error``; the owner
    never lets an exception vanish. ``aclose`` cancels what is still running and waits at most
    ``deadline`` seconds, so a stuck task can never hold shutdown open.
    """

    def __init__(self, name: str, on_error: Callable[[str, BaseException], None] | None = None):
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self.name} is closed; cannot start {name}")
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}/{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s failed: %r", task.get_name(), exc, exc_info=exc)
            if self._on_error is not None:
                self._on_error(task.get_name(), exc)

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def aclose(self, deadline: float = 1.5) -> list[str]:
        """Cancel every task and wait up to ``deadline`` s; returns the names still stuck."""
        self._closed = True
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if not tasks:
            return []
        done, pending = await asyncio.wait(tasks, timeout=deadline)
        stuck = [t.get_name() for t in pending]
        if stuck:
            log.warning("%s: %d task(s) did not stop within %.1fs: %s",
                        self.name, len(stuck), deadline, ", ".join(stuck))
        return stuck

    async def __aenter__(self) -> TaskOwner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
