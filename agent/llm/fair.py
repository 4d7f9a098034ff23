"""One LLM shared by many sessions, taken in turns: a fair queue in front of the model.

``agent serve`` loads the model once per process. The embedded llama.cpp model has one KV cache
and generates one reply at a time, so sessions must queue for it; a plain lock would let the
order depend on who asks most often. Here each session gets a handle (``FairLLM.session``);
at most ``workers`` replies generate at once and, when one ends, the next reply goes to the
session that has had the fewest turns lately, so one session asking often cannot hold the
others back. A request
given up while it waits (the user barged in) never reaches the model; at most ``max_waiting``
requests wait, beyond that a request fails at once with one line instead of queueing forever.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager
from typing import Any

from agent.core.errors import BackendUnavailable
from agent.core.stages import LLM, Message

_keys = itertools.count(1)


class FairLLM:
    """The shared model and its queue; ``session()`` hands out one ``LLM`` per session.

    Fairness is start-time fair queuing with equal shares: each request gets a round number,
    one past its session's previous request but never behind the round being served now (a
    session that was idle does not bank turns); the free worker goes to the lowest round, the
    earliest request first among equals."""

    def __init__(self, llm: LLM, workers: int = 1, max_waiting: int = 64) -> None:
        if workers < 1:
            raise ValueError("an LLM queue needs at least one worker")
        self.llm = llm
        self.workers = workers
        self.max_waiting = max_waiting
        self.busy = 0
        self.waits: collections.deque[float] = collections.deque(maxlen=1000)  # seconds queued
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []  # (round, arrival, waiter)
        self._arrivals = itertools.count()
        self._round = 0  # the round of the latest request served
        self._next: dict[int, int] = {}  # session -> the round of its next request

    def session(self, name: str = "") -> SessionLLM:
        return SessionLLM(self, next(_keys), name)

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, fut in self._heap if not fut.done())

    def _take_round(self, key: int) -> int:
        turn = max(self._round, self._next.get(key, 0))
        self._next[key] = turn + 1
        if len(self._next) > 4 * (self.max_waiting + self.workers):  # forget sessions long idle
            self._next = {k: r for k, r in self._next.items() if r > self._round}
        return turn

    @asynccontextmanager
    async def turn(self, key: int) -> AsyncIterator[None]:
        """Hold one of the workers for ``key``'s request (waiting for its turn first)."""
        start = time.monotonic()
        turn = self._take_round(key)
        if self.busy >= self.workers or self.waiting:
            if self.waiting >= self.max_waiting:
                raise BackendUnavailable(f"{self.llm.name} is busy: {self.waiting} replies are waiting; "
                                         "try again shortly, or serve fewer sessions per LLM")
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._heap, (turn, next(self._arrivals), fut))
            try:
                await fut  # a worker was handed over: ``busy`` already counts it
            except BaseException:
                if fut.done() and not fut.cancelled():
                    self._release()  # granted and cancelled in the same step: pass it on
                else:
                    fut.cancel()  # left in the heap, skipped when its turn comes
                raise
        else:
            self.busy += 1
            self._round = max(self._round, turn)
        self.waits.append(time.monotonic() - start)
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        """A worker is free: the lowest round waiting gets it (the count stays busy)."""
        while self._heap:
            turn, _, fut = heapq.heappop(self._heap)
            if not fut.done():
                self._round = max(self._round, turn)
                fut.set_result(None)
                return
        self.busy -= 1

    async def aclose(self) -> None:
        await self.llm.aclose()


class SessionLLM:
    """One session's view of the shared model: an ``LLM`` whose replies take turns."""

    def __init__(self, queue: FairLLM, key: int, name: str) -> None:
        self.queue = queue
        self.key = key
        self.session_name = name
        self.name: str = queue.llm.name
        self.is_base_model: bool = queue.llm.is_base_model

    def __getattr__(self, attr: str) -> Any:
        # what a backend offers beyond the protocol (a base model's language, counters)
        return getattr(self.queue.llm, attr)

    async def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                     stop: Sequence[str] = ()) -> AsyncIterator[str]:
        async with self.queue.turn(self.key):
            # closed here when the consumer stops early (barge-in): the worker is free at once
            stream = self.queue.llm.stream(messages, max_tokens=max_tokens, stop=stop)
            async with aclosing(stream) as texts:  # type: ignore[type-var]  # an async generator
                async for text in texts:
                    yield text

    async def aclose(self) -> None:
        """The model is the process's; a session closing leaves it loaded."""
        return None
