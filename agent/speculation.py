"""A reply prepared before the turn is confirmed.

When the user's words are in but the turn waits out its silence (``TurnEndLikely``), the reply
is prepared as if the turn had ended: the words read speculatively (nothing kept), the prompt
built, the LLM started, its sentences held unspoken. If the turn ends with the same words and
the real reading gives the same prompt, those sentences are spoken at once; if the user goes on,
or the prompt differs (a face or voice reading came in meanwhile), they are thrown away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.core.channel import Channel, ChannelClosed, Overflow
from agent.core.stages import Message
from agent.core.tasks import TaskOwner

log = logging.getLogger(__name__)

HELD = 64  # sentences held at most: the LLM waits beyond it


@dataclass(eq=False)
class _Prepared:
    text: str
    messages: list[Message] | None = None  # set once the speculative reading is done
    sentences: Channel[str] = field(default_factory=lambda: Channel(HELD, Overflow.WAIT, "speculative sentences"))
    read: asyncio.Event = field(default_factory=asyncio.Event)  # the prompt is built (or failed)
    task: asyncio.Task[None] | None = None


class Speculation:
    """``start`` on a likely end of turn, ``take`` when it is confirmed, ``cancel`` when the user
    goes on. ``started``/``used``/``thrown_away`` count what it did."""

    def __init__(self, owner: TaskOwner, dialogue: Any,
                 prompt: Callable[[str], Awaitable[list[Message]]]) -> None:
        """``prompt(text)``: the messages a reply to ``text`` would be given, read speculatively."""
        self.owner, self.dialogue, self._prompt = owner, dialogue, prompt
        self.started = self.used = self.thrown_away = 0
        self._prepared: _Prepared | None = None

    def start(self, text: str) -> None:
        if self._prepared is not None and self._prepared.text == text:
            return
        self.cancel()
        prepared = _Prepared(text)
        prepared.task = self.owner.spawn(self._prepare(prepared), "speculative reply")
        self._prepared = prepared
        self.started += 1

    async def _prepare(self, prepared: _Prepared) -> None:
        try:
            prepared.messages = await self._prompt(prepared.text)
        finally:
            prepared.read.set()
        try:
            async for sentence in self.dialogue.stream(prepared.messages):
                await prepared.sentences.put(sentence)
        except ChannelClosed:
            return
        finally:
            prepared.sentences.close()

    async def take(self, text: str, messages: Sequence[Message]) -> AsyncIterator[str] | None:
        """The prepared reply's sentences if it was prepared for exactly this turn and prompt."""
        prepared, self._prepared = self._prepared, None
        if prepared is None:
            return None
        if prepared.text == text:
            await prepared.read.wait()  # started moments ago: its prompt is being built
        if prepared.text != text or prepared.messages != list(messages):
            self._throw_away(prepared)
            return None
        self.used += 1
        return self._drain(prepared)

    async def _drain(self, prepared: _Prepared) -> AsyncIterator[str]:
        assert prepared.task is not None
        try:
            async for sentence in prepared.sentences:
                yield sentence
            await prepared.task  # a failed LLM is the reply's failure, as without speculation
        finally:
            await self._stop(prepared)

    def cancel(self) -> None:
        """The user went on (or took the turn another way): nothing prepared will be said."""
        prepared, self._prepared = self._prepared, None
        if prepared is not None:
            self._throw_away(prepared)

    def _throw_away(self, prepared: _Prepared) -> None:
        self.thrown_away += 1
        log.debug("speculative reply thrown away")
        self.owner.spawn(self._stop(prepared), "speculative reply stop")

    async def _stop(self, prepared: _Prepared) -> None:
        prepared.sentences.close()
        if prepared.task is not None and not prepared.task.done():
            prepared.task.cancel()  # the LLM's stream closes: llama.cpp stops within a token
            await asyncio.gather(prepared.task, return_exceptions=True)
