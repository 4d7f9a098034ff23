"""Ollama and OpenAI-compatible backends: the real langchain clients against a fake local server."""

from __future__ import annotations

import asyncio
import time

import pytest
from llm_fakes import FakeLLMServer, dead_url

import agent.llm as llm_pkg
from agent.core.errors import BackendUnavailable, UserError
from agent.llm import LLM, Message, make_llm, probe_ollama, split_sentences
from agent.llm.chat import ollama_backend, openai_backend
from agent.llm.probe import ollama_url
from persona.config import LLMSettings

MESSAGES = [Message("system", "You are Ada, a tutor."), Message("user", "Hi, can you help me with fractions?")]


async def collect(llm, **kwargs) -> list[str]:
    return [d async for d in llm.stream(MESSAGES, **kwargs)]


@pytest.fixture
def server():
    with FakeLLMServer() as fake:
        yield fake


async def test_ollama_streams_the_servers_tokens(server, no_leaked_tasks):
    llm = await make_llm(LLMSettings(backend="ollama", base_url=server.url, temperature=0.3), persona_name="Ada")
    try:
        assert llm.name == "ollama:gemma3:4b" and not llm.is_base_model and isinstance(llm, LLM)
        deltas = await collect(llm, max_tokens=42, stop=["\n\n"])
    finally:
        await llm.aclose()
    assert deltas == server.tokens
    body = server.requests[-1]["body"]
    assert body["model"] == "gemma3:4b" and body["stream"] is True
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][1]["content"] == MESSAGES[1].content
    assert body["options"]["num_predict"] == 42 and body["options"]["stop"] == ["\n\n"]
    assert body["options"]["temperature"] == 0.3


async def test_openai_streams_the_servers_tokens(server, no_leaked_tasks, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = LLMSettings(backend="openai", base_url=server.url + "/v1", model="qwen2.5", max_tokens=64)
    llm = await make_llm(settings)
    try:
        assert llm.name == "openai:qwen2.5" and isinstance(llm, LLM)
        deltas = await collect(llm)
    finally:
        await llm.aclose()
    for _ in range(5):  # the openai SDK leaves its SSE generators to the loop's finalizer; let it run
        await asyncio.sleep(0)
    assert "".join(deltas) == "".join(server.tokens)
    assert len([d for d in deltas if d]) == len(server.tokens)
    body = server.requests[-1]["body"]
    assert body["model"] == "qwen2.5" and body["stream"] is True
    assert body.get("max_completion_tokens", body.get("max_tokens")) == 64
    assert body["messages"][0] == {"role": "system", "content": MESSAGES[0].content}


async def test_sentences_come_out_of_a_real_stream(server):
    llm = ollama_backend(LLMSettings(), server.url)
    try:
        sentences = [s async for s in split_sentences(llm.stream(MESSAGES))]
    finally:
        await llm.aclose()
    assert sentences == ["Hello there!", "Fractions are fun."]


@pytest.mark.parametrize("factory", [ollama_backend, openai_backend])
async def test_stopping_early_closes_the_request(server, factory, no_leaked_tasks):
    llm = factory(LLMSettings(), server.url + ("/v1" if factory is openai_backend else ""))
    try:
        stream = llm.stream(MESSAGES)
        assert await anext(stream) == "Hello"
        await stream.aclose()
        assert await collect(llm) == server.tokens  # the client is still usable
    finally:
        await llm.aclose()
    for _ in range(5):  # the openai SDK leaves its SSE generators to the loop's finalizer
        await asyncio.sleep(0)


@pytest.mark.parametrize("backend", ["ollama", "openai"])
async def test_dead_port_is_unavailable_quickly(backend):
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="not reachable"):
        await make_llm(LLMSettings(backend=backend, base_url=dead_url() + ("/v1" if backend == "openai" else "")))
    assert time.monotonic() - started < 5  # a behaviour (no hang), not a benchmark


@pytest.mark.parametrize("factory", [ollama_backend, openai_backend])
async def test_dead_port_mid_session_is_unavailable(factory):
    llm = factory(LLMSettings(timeout=1), dead_url() + "/v1")
    try:
        with pytest.raises(BackendUnavailable, match="not reachable") as err:
            await collect(llm)
    finally:
        await llm.aclose()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("backend", ["ollama", "openai"])
async def test_silent_server_times_out_at_probe(server, backend):
    server.mode = "hang"
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="within 1 s"):
        await make_llm(LLMSettings(backend=backend, base_url=server.url, timeout=1))
    assert 0.9 < time.monotonic() - started < 5


@pytest.mark.parametrize("factory", [ollama_backend, openai_backend])
async def test_silent_server_times_out_mid_stream(server, factory):
    server.mode = "hang"
    llm = factory(LLMSettings(timeout=1), server.url + ("/v1" if factory is openai_backend else ""))
    started = time.monotonic()
    try:
        with pytest.raises(BackendUnavailable, match="did not answer within 1 s"):
            await collect(llm)
    finally:
        await llm.aclose()
    assert 0.9 < time.monotonic() - started < 5


@pytest.mark.parametrize("factory", [ollama_backend, openai_backend])
async def test_connection_cut_mid_reply_is_unavailable(server, factory):
    server.mode = "drop"
    llm = factory(LLMSettings(timeout=2), server.url + ("/v1" if factory is openai_backend else ""))
    got: list[str] = []
    try:
        with pytest.raises(BackendUnavailable):
            async for d in llm.stream(MESSAGES):
                got.append(d)
    finally:
        await llm.aclose()
    assert "".join(got) in ("", "Hello", "Hello there")


@pytest.mark.parametrize("factory", [ollama_backend, openai_backend])
async def test_server_error_names_the_status(server, factory):
    server.mode = "error"
    llm = factory(LLMSettings(timeout=2), server.url + ("/v1" if factory is openai_backend else ""))
    try:
        with pytest.raises(BackendUnavailable, match="500"):
            await collect(llm)
    finally:
        await llm.aclose()


async def test_explicit_ollama_without_the_model_says_how_to_pull(server):
    with pytest.raises(BackendUnavailable, match="ollama pull llama3.2:3b"):
        await make_llm(LLMSettings(backend="ollama", model="llama3.2:3b", base_url=server.url))


async def test_openai_without_base_url_is_a_user_error():
    with pytest.raises(UserError, match="base_url"):
        await make_llm(LLMSettings(backend="openai"))


async def test_unknown_backend_is_a_user_error():
    with pytest.raises(UserError, match="auto, ollama, openai, embedded"):
        await make_llm(LLMSettings(), backend="llamafile")


async def test_probe_lists_models_or_says_none(server):
    assert await probe_ollama(server.url) == ["gemma3:4b"]
    assert await probe_ollama(dead_url()) is None


def test_ollama_url_accepts_ollama_host_forms(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:11500")
    assert ollama_url(None) == "http://127.0.0.1:11500"
    assert ollama_url("http://box:1/") == "http://box:1"
    monkeypatch.delenv("OLLAMA_HOST")
    assert ollama_url(None) == "http://127.0.0.1:11434"


class _CheapEmbedded:
    name = "embedded:cheap"
    is_base_model = True

    async def stream(self, messages, *, max_tokens=None, stop=()):
        yield "cheap"

    async def aclose(self) -> None:
        pass


@pytest.fixture
def cheap_embedded(monkeypatch):
    calls: list[str] = []

    async def load_embedded(settings, *, persona_name="Assistant", language="en", notice=None, threads=None):
        calls.append(persona_name)
        return _CheapEmbedded()

    monkeypatch.setattr(llm_pkg.embedded, "load_embedded", load_embedded)
    return calls


async def test_auto_picks_ollama_when_it_lists_the_model(server, cheap_embedded):
    notices: list[str] = []
    llm = await make_llm(LLMSettings(base_url=server.url), notice=notices.append)
    try:
        assert llm.name == "ollama:gemma3:4b"
        assert await collect(llm) == server.tokens
    finally:
        await llm.aclose()
    assert notices == [] and cheap_embedded == []


async def test_auto_accepts_a_tagless_model_as_latest(server, cheap_embedded):
    server.models = ["mistral:latest"]
    llm = await make_llm(LLMSettings(base_url=server.url, model="mistral"))
    await llm.aclose()
    assert llm.name == "ollama:mistral"


async def test_auto_falls_back_to_embedded_when_ollama_is_down(cheap_embedded):
    notices: list[str] = []
    started = time.monotonic()
    llm = await make_llm(LLMSettings(base_url=dead_url()), persona_name="Ada", notice=notices.append)
    assert time.monotonic() - started < 5
    assert llm.name == "embedded:cheap" and cheap_embedded == ["Ada"]
    assert len(notices) == 1 and "ollama pull gemma3:4b" in notices[0] and "llm.backend: openai" in notices[0]


async def test_auto_falls_back_when_ollama_lacks_the_model(server, cheap_embedded):
    notices: list[str] = []
    llm = await make_llm(LLMSettings(base_url=server.url, model="qwen2.5:3b"), notice=notices.append)
    assert llm.name == "embedded:cheap"
    assert len(notices) == 1 and "Ollama has no model qwen2.5:3b; run `ollama pull qwen2.5:3b`" in notices[0]


async def test_auto_reads_ollama_host(server, cheap_embedded, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", server.url.removeprefix("http://"))
    llm = await make_llm(LLMSettings())
    await llm.aclose()
    assert llm.name == "ollama:gemma3:4b"
