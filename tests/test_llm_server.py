"""The OpenAI-compatible backend against a real server: llama.cpp's own
(``python -m llama_cpp.server``) serving the bundled Gemma 3 270M GGUF — the shape of the
scale-out in docs/scaling.md, where every ``agent serve`` worker reaches one shared LLM server
(vLLM, Ollama, llama.cpp's server) through this backend. Fakes of the wire format are in
test_llm_http.py; this is the real thing."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import httpx
import pytest

from agent.core.errors import BackendUnavailable
from agent.llm import Message, make_llm
from agent.llm.fair import FairLLM
from persona.config import LLMSettings

pytestmark = pytest.mark.slow

MESSAGES = [Message("system", "You are Ada, a friendly maths tutor."),
            Message("user", "What is a fraction?")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    from agent.llm.bundled import bundled_gguf

    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"  # llama.cpp says a lot: a pipe would fill
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_gguf()), "--model_alias", "gemma",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
         "--chat_format", "gemma",  # the bundled GGUF carries no chat template; the server formats turns
         # by default a new request cuts the running one short; sessions sharing it must queue
         "--interrupt_requests", "false"],
        stdout=subprocess.DEVNULL, stderr=log.open("w"))
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not answer within 120 s")
    try:
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _settle() -> None:
    for _ in range(20):  # the openai SDK leaves its SSE generators to the loop's finalizer; let it run
        await asyncio.sleep(0)


def _settings(url: str) -> LLMSettings:
    return LLMSettings(backend="openai", base_url=url, model="gemma", max_tokens=8, temperature=0.0, timeout=120)


async def test_the_openai_backend_streams_a_reply_from_llama_cpp_server(llama_server, no_leaked_tasks):
    url, _ = llama_server
    llm = await make_llm(_settings(url), persona_name="Ada")
    try:
        assert llm.name == "openai:gemma" and not llm.is_base_model
        deltas = [d async for d in llm.stream(MESSAGES, max_tokens=8)]
    finally:
        await llm.aclose()
    await _settle()
    assert len(deltas) >= 2, deltas  # streamed, token by token, not one block
    assert "".join(deltas).strip()


async def test_sessions_share_the_server_through_the_fair_queue(llama_server, no_leaked_tasks):
    """Two ``agent serve`` sessions asking at once: both answered by the one server, two at a time."""
    url, _ = llama_server
    llm = await make_llm(_settings(url), persona_name="Ada")
    queue = FairLLM(llm, workers=2)
    try:
        async def ask(session) -> str:
            return "".join([d async for d in session.stream(MESSAGES, max_tokens=4)])

        replies = await asyncio.gather(ask(queue.session("a")), ask(queue.session("b")))
    finally:
        await queue.aclose()
    await _settle()
    assert all(replies), replies  # each session got its own streamed reply
    assert queue.busy == 0 and len(queue.waits) == 2


async def test_a_server_that_goes_away_mid_session_is_one_clear_line(llama_server, no_leaked_tasks):
    """(Last in this module: it stops the shared server.)"""
    url, proc = llama_server
    llm = await make_llm(_settings(url), persona_name="Ada")
    try:
        proc.terminate()
        proc.wait(10)
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as err:
            async for _ in llm.stream(MESSAGES):
                pass
    finally:
        await llm.aclose()
    await _settle()
    assert time.monotonic() - started < 10
    assert "\n" not in str(err.value) and url in str(err.value)
