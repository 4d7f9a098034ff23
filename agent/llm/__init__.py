"""LLM backends behind one small interface: Ollama, OpenAI-compatible servers, embedded llama.cpp.

``make_llm`` picks one from a persona's ``llm`` settings. "auto" prefers the persona's Ollama
model and otherwise falls back to the bundled Gemma 3 270M, saying so in one line. Heavy
imports (langchain, llama_cpp) happen inside the factories, so importing this is cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from agent.core.errors import BackendUnavailable, UserError
from agent.core.stages import LLM, Message
from agent.llm import embedded
from agent.llm.failures import describe
from agent.llm.probe import has_model, ollama_models, ollama_url, probe_ollama
from agent.llm.sentences import split_sentences

if TYPE_CHECKING:
    from persona.config import LLMSettings

__all__ = ["LLM", "Message", "make_llm", "probe_ollama", "split_sentences"]

log = logging.getLogger(__name__)

AUTO_PROBE_TIMEOUT = 1.0
EXPLICIT_PROBE_TIMEOUT = 5.0
STAND_IN_NOTICE = (
    "Using the embedded Gemma 3 270M, a tiny stand-in that gives short, simple replies; for a real "
    "conversation install Ollama (https://ollama.com) and run `ollama pull gemma3:4b`, or set "
    "llm.backend: openai with llm.base_url pointing at your server."
)

Notice = Callable[[str], None]


def _log_notice(line: str) -> None:
    log.warning("%s", line)


async def _auto(settings: LLMSettings, persona_name: str, language: str, notice: Notice) -> LLM:
    url = ollama_url(settings.base_url)
    listed = await probe_ollama(url, timeout=AUTO_PROBE_TIMEOUT)
    if listed is not None and has_model(listed, settings.model):
        from agent.llm.chat import ollama_backend

        return ollama_backend(settings, url)
    if listed is None:
        notice(STAND_IN_NOTICE)
    else:
        notice(
            f"Ollama has no model {settings.model}; run `ollama pull {settings.model}`. "
            "Meanwhile using the embedded Gemma 3 270M, a tiny stand-in."
        )
    return await embedded.load_embedded(settings, persona_name=persona_name, language=language, notice=notice)


async def _ollama(settings: LLMSettings) -> LLM:
    from agent.llm.chat import ollama_backend

    url = ollama_url(settings.base_url)
    timeout = min(settings.timeout, EXPLICIT_PROBE_TIMEOUT)
    try:
        listed = await ollama_models(url, timeout)
    except Exception as exc:  # down, slow, or not Ollama
        raise BackendUnavailable(f"Ollama at {url} {describe(exc, timeout)}; start it with `ollama serve`") from exc
    if not has_model(listed, settings.model):
        raise BackendUnavailable(f"Ollama at {url} has no model {settings.model}; run `ollama pull {settings.model}`")
    return ollama_backend(settings, url)


async def _openai(settings: LLMSettings) -> LLM:
    from agent.llm.chat import openai_backend
    from agent.llm.probe import answers

    if not settings.base_url:
        raise UserError("llm.backend openai needs llm.base_url, e.g. http://127.0.0.1:8000/v1")
    url = settings.base_url.rstrip("/")
    timeout = min(settings.timeout, EXPLICIT_PROBE_TIMEOUT)
    try:
        await answers(url + "/models", timeout)
    except Exception as exc:
        raise BackendUnavailable(f"The OpenAI-compatible server at {url} {describe(exc, timeout)}") from exc
    return openai_backend(settings, url)


async def make_llm(
    settings: LLMSettings,
    *,
    persona_name: str = "Assistant",
    backend: str | None = None,
    notice: Notice | None = None,
    language: str = "en",
) -> LLM:
    """The LLM ``settings`` ask for (``backend`` overrides ``settings.backend``).

    Explicit "ollama"/"openai" raise ``BackendUnavailable`` within seconds when the server is
    down or slow; "auto" never fails over a missing server, it falls back to the embedded model
    and tells ``notice`` (default: a log warning) in one line. Nothing is ever downloaded.
    ``persona_name`` and ``language`` (the persona's) matter only to a base model, which is
    prompted with a transcript in that language where the persona speaks under that name.
    """
    choice = backend or settings.backend
    say = notice or _log_notice
    factories: dict[str, Callable[[], Awaitable[LLM]]] = {
        "auto": lambda: _auto(settings, persona_name, language, say),
        "ollama": lambda: _ollama(settings),
        "openai": lambda: _openai(settings),
        "embedded": lambda: embedded.load_embedded(settings, persona_name=persona_name, language=language, notice=say),
    }
    if choice not in factories:
        raise UserError(f"Unknown LLM backend {choice!r}; use one of {', '.join(factories)}")
    return await factories[choice]()
