"""LLMs served over HTTP (Ollama, any OpenAI-compatible server), reached through langchain.

Every request has a connect timeout of a few seconds and a read timeout of ``llm.timeout``
(between streamed chunks too), and no retries: a dead or stuck server becomes one
``BackendUnavailable`` line quickly instead of a hang.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import httpx

from agent.core.errors import BackendUnavailable, UserError
from agent.core.stages import Message
from agent.llm.failures import describe
from agent.llm.probe import CONNECT_TIMEOUT

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from persona.config import LLMSettings

CallKwargs = Callable[[int, list[str]], dict[str, Any]]


def _to_langchain(messages: Sequence[Message]) -> list[BaseMessage]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    from agent.llm.notes import notes_into_user

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m.role](content=m.content) for m in notes_into_user(messages)]


class ChatBackend:
    """An ``LLM`` over a langchain chat model; ``call_kwargs`` maps max_tokens/stop to its options."""

    is_base_model = False

    def __init__(
        self,
        chat: BaseChatModel,
        *,
        name: str,
        url: str,
        timeout: float,
        max_tokens: int,
        call_kwargs: CallKwargs,
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self.name = name
        self.url = url
        self._chat = chat
        self._timeout = timeout
        self._max_tokens = max_tokens
        self._call_kwargs = call_kwargs
        self._close = close

    async def stream(
        self, messages: Sequence[Message], *, max_tokens: int | None = None, stop: Sequence[str] = ()
    ) -> AsyncIterator[str]:
        kwargs = self._call_kwargs(max_tokens or self._max_tokens, list(stop))
        try:
            stream = self._chat.astream(_to_langchain(messages), **kwargs)
            async with aclosing(stream) as chunks:  # type: ignore[type-var]  # an async generator
                async for chunk in chunks:  # closed with us when the caller stops early (barge-in)
                    if text := chunk.text:
                        yield text
        except UserError:
            raise
        except Exception as exc:  # any client failure is the backend being unavailable
            raise BackendUnavailable(f"{self.name} at {self.url} {describe(exc, self._timeout)}") from exc

    async def aclose(self) -> None:
        await self._close()


def _http_timeout(settings: LLMSettings) -> httpx.Timeout:
    return httpx.Timeout(settings.timeout, connect=min(CONNECT_TIMEOUT, settings.timeout))


def ollama_backend(settings: LLMSettings, url: str) -> ChatBackend:
    """``ChatOllama`` streaming NDJSON from ``url``/api/chat."""
    from langchain_ollama import ChatOllama

    chat = ChatOllama(
        model=settings.model,
        base_url=url,
        temperature=settings.temperature,
        client_kwargs={"timeout": _http_timeout(settings)},
    )

    def call_kwargs(max_tokens: int, stop: list[str]) -> dict[str, Any]:
        options: dict[str, Any] = {"temperature": settings.temperature, "num_predict": max_tokens}
        if stop:
            options["stop"] = stop
        return {"options": options}

    async def close() -> None:
        client = chat._async_client  # ChatOllama owns it but offers no close
        if client is not None:
            await client.close()

    return ChatBackend(
        chat,
        name=f"ollama:{settings.model}",
        url=url,
        timeout=settings.timeout,
        max_tokens=settings.max_tokens,
        call_kwargs=call_kwargs,
        close=close,
    )


def openai_backend(settings: LLMSettings, url: str) -> ChatBackend:
    """``ChatOpenAI`` streaming SSE from ``url``/chat/completions (vLLM, llama.cpp server, LM Studio…)."""
    from langchain_openai import ChatOpenAI

    http = httpx.AsyncClient(timeout=_http_timeout(settings))
    chat = ChatOpenAI(
        model=settings.model,
        base_url=url,
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        temperature=settings.temperature,
        timeout=_http_timeout(settings),
        max_retries=0,
        use_responses_api=False,  # compatible servers speak chat completions
        http_async_client=http,
    )

    def call_kwargs(max_tokens: int, stop: list[str]) -> dict[str, Any]:
        # langchain sends the limit as max_completion_tokens, which llama.cpp's server (0.3.x)
        # ignores, generating to the end of its context: send the older name as well
        return {"max_tokens": max_tokens, "stop": stop or None, "extra_body": {"max_tokens": max_tokens}}

    return ChatBackend(
        chat,
        name=f"openai:{settings.model}",
        url=url,
        timeout=settings.timeout,
        max_tokens=settings.max_tokens,
        call_kwargs=call_kwargs,
        close=http.aclose,
    )
