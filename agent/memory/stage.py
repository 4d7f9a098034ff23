"""The memory stage of a session: recall for each turn, remember after it, sum up at the end.

All database work and MiniLM runs in one worker thread that owns the SQLite connection, so
nothing of it is on the event loop and writes happen in order. Turns to remember wait in a
bounded queue (``QUEUE`` turns; a full queue makes the next turn wait: a memory is never
dropped); one owned task feeds them to the worker. Nothing remembered goes into log text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from agent.core.stages import LLM
from agent.core.tasks import TaskOwner
from agent.memory import greeting, rapport, summary
from agent.memory.extract import Embed, LLMExtractor, RuleExtractor
from agent.memory.paths import check_user
from agent.memory.recall import RecallIndex
from agent.memory.store import VAD, Draft, Fact, MemoryStore, PastSession

log = logging.getLogger(__name__)
T = TypeVar("T")

QUEUE = 16
DRAIN_S = 30.0  # the session ended normally: the last turns' notes (a chat model's) may take this long
CLOSE_S = 1.0  # Ctrl-C: what is not written by then is left (shutdown has a deadline)
KEEP_TURNS = 24  # this session's turns kept (in RAM only) for its summary

Turn = tuple[str, str, tuple[VAD, float] | None]  # the user's words, the reply heard, their affect


class Memory:
    """One session's memory of one user. ``open`` it, then ``recall``/``remember`` per turn and
    ``finish`` once (idempotent). ``recalled``: what each turn brought into its prompt."""

    def __init__(self, user: str, persona: Any, llm: LLM | None, *, path: Path | None = None,
                 embed: Embed | None = None, now: Callable[[], float] = time.time) -> None:
        if embed is None:
            from perception.embeddings import embed as minilm

            embed = minilm
        self.user = check_user(user)
        self.persona = persona
        self.embed = embed
        self.now = now
        self.path = path
        self.rules = RuleExtractor(embed)
        # a chat model writes the notes and the summary; a base model's are made by rules
        self.writer = LLMExtractor(llm, embed) if llm is not None and not llm.is_base_model else None
        self.llm = llm if self.writer is not None else None
        self.recalled: list[list[str]] = []
        self.facts: list[Fact] = []
        self.sessions: list[PastSession] = []
        self.index = RecallIndex([])
        self._store: MemoryStore | None = None
        self._session_id: int | None = None
        self._turns: deque[tuple[str, str]] = deque(maxlen=KEEP_TURNS)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memory")
        self._owner = TaskOwner("memory")
        self._queue: asyncio.Queue[Turn | None] | None = None
        self._feeder: asyncio.Task[None] | None = None
        self._finished = False

    @classmethod
    async def open(cls, user: str, persona: Any, llm: LLM | None, **kwargs: Any) -> Memory:
        memory = cls(user, persona, llm, **kwargs)
        try:
            await memory._call(memory._load)
        except BaseException:
            memory._pool.shutdown(wait=False)
            raise
        return memory

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _load(self) -> None:
        self._store = MemoryStore(self.path, now=self.now)
        self.path = self._store.path
        self.facts = self._store.facts(self.user)
        self.sessions = self._store.sessions(self.user)
        self.index = RecallIndex.of(self.facts, self.sessions, self.now())
        self.rules.kinds.warm()  # the prototypes embedded now, not on the first turn

    # ------------------------------------------------------------------ start
    def greeting(self, default: str) -> str:
        return greeting.greeting(default, self.facts, self.sessions, self.persona.language)

    def meet(self, engine: Any) -> None:
        """Start the persona's emotion where the user's remembered affect takes it (rapport)."""
        remembered = rapport.remembered_affect(self.sessions, self.now())
        start_with = getattr(engine, "start_with", None)
        if remembered is not None and start_with is not None:
            start_with(*remembered)

    # ------------------------------------------------------------------ each turn
    async def recall(self, text: str) -> list[str]:
        """The memories for this turn's prompt (never raises: a failure recalls nothing)."""
        found: list[str] = []
        if len(self.index) and not self._finished:
            try:
                query = (await asyncio.to_thread(self.embed, [text]))[0]
                found = self.index.recall(query, self.now())
            except Exception as e:  # memory must never break the conversation
                log.warning("memory: recall failed (%s)", type(e).__name__)
        self.recalled.append(found)
        log.debug("memory: %d recalled", len(found))
        return found

    async def remember(self, text: str, heard_reply: str, affect: Any = None) -> None:
        """Queue the turn: its facts and affect are written by the worker."""
        if self._finished or not text.strip():
            return
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=QUEUE)
            self._feeder = self._owner.spawn(self._feed(self._queue), "feed")
        felt = None
        if affect is not None and float(getattr(affect, "confidence", 0.0)) > 0.0:
            v, a, d = (float(x) for x in affect.vad)
            felt = ((v, a, d), float(affect.confidence))
        self._turns.append((text.strip(), heard_reply.strip()))  # for the summary, even if not yet written
        await self._queue.put((text.strip(), heard_reply.strip(), felt))

    async def _feed(self, queue: asyncio.Queue[Turn | None]) -> None:
        while (turn := await queue.get()) is not None:
            try:
                await self._remember(turn)
            except Exception as e:  # one lost turn, not a broken session
                log.warning("memory: a turn was not remembered (%s)", type(e).__name__)

    async def _remember(self, turn: Turn) -> None:
        text, _, felt = turn
        notes: list[str] | None = None
        if self.writer is not None:
            try:
                notes = await self.writer.notes(text)
            except Exception as e:  # the server went away: the rules take the turn
                log.warning("memory: the LLM wrote no notes (%s); using the rules", type(e).__name__)
        writer = self.writer

        def extract() -> list[Draft]:
            if notes is not None and writer is not None:
                return writer.drafts(notes, text)
            return self.rules.extract(text)

        await self._call(self._write, extract, felt)
        log.debug("memory: turn written")

    def _write(self, extract: Callable[[], list[Draft]], felt: tuple[VAD, float] | None) -> None:
        assert self._store is not None
        self._session_id = self._store.record_turn(self.user, self.persona.name, self._session_id,
                                                   felt, extract())

    # ------------------------------------------------------------------ the end
    async def finish(self, graceful: bool = True) -> None:
        """Write what is queued and the session's summary, then close. ``graceful`` (the
        session ended by itself) waits up to ``DRAIN_S`` for it; otherwise ``CLOSE_S``."""
        if self._finished:
            return
        self._finished = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (DRAIN_S if graceful else CLOSE_S)
        if self._queue is not None and self._feeder is not None:
            try:
                await asyncio.wait_for(self._queue.put(None), max(0.0, deadline - loop.time()))
                await asyncio.wait({self._feeder}, timeout=max(0.0, deadline - loop.time()))
            except TimeoutError:
                pass
            if not self._feeder.done():
                log.warning("memory: the last turns were not remembered in time")
        await self._owner.aclose(0.5)
        text: str | None = None
        if self._turns and self.llm is not None and graceful:
            try:
                text = await asyncio.wait_for(summary.by_llm(self.llm, list(self._turns), self.persona.display_name),
                                              max(0.1, deadline - loop.time()))
            except Exception as e:  # then the extractive summary
                log.warning("memory: the LLM wrote no summary (%s)", type(e).__name__)
        ending = loop.run_in_executor(self._pool, self._end, text)
        try:
            await asyncio.wait_for(asyncio.shield(ending), max(CLOSE_S, deadline - loop.time()))
        except TimeoutError:  # the worker finishes it before the process exits
            log.warning("memory: closing the database took longer than %.1f s", CLOSE_S)
        except Exception as e:
            log.warning("memory: the session was not summed up (%s)", type(e).__name__)
        self._pool.shutdown(wait=False)

    def _end(self, text: str | None) -> None:
        if self._store is None:
            return
        try:
            if self._session_id is not None:
                if text is None:
                    facts = self._store.facts(self.user)  # the name may have come up this session
                    name = next((f.value for f in facts if f.kind == "name" and f.value), None)
                    text = summary.extractive([t for t, _ in self._turns], self.embed, name or "The user")
                vector = self.embed([text])[0] if text else None
                self._store.end_session(self._session_id, text, vector)
        finally:
            self._store.close()
            self._store = None
