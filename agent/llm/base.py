"""The one small interface every LLM backend speaks: messages in, text deltas out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of the conversation, in the shape every chat API shares."""

    role: Role
    content: str


@runtime_checkable
class LLM(Protocol):
    """A text generator the dialogue streams from.

    ``stream`` yields text deltas as the backend produces them, so TTS can start on the first
    sentence; a backend that fails (down, slow, dropped mid-reply) raises
    ``agent.errors.BackendUnavailable`` instead of hanging.
    """

    name: str
    is_base_model: bool

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int | None = None, stop: Sequence[str] = ()
    ) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...
