"""The embedded backend for real: llama.cpp running the bundled Gemma 3 270M GGUF."""

from __future__ import annotations

import asyncio
import re

import pytest

from agent.core.errors import BackendUnavailable, UserError
from agent.llm import LLM, Message, make_llm, split_sentences
from agent.llm.embedded import EmbeddedLLM, default_threads, load_embedded
from persona.config import LLMSettings

SYSTEM = Message(
    "system",
    "You are Ada, a patient maths and science tutor. You explain one step at a time with small "
    "concrete examples. Keep replies to two or three short sentences.",
)
FRACTIONS = [SYSTEM, Message("user", "Hi, can you help me with fractions?")]


@pytest.fixture(scope="module")
def llm():
    """Loaded once per module; each test drives it from its own event loop."""
    notices: list[str] = []
    model = asyncio.run(make_llm(LLMSettings(temperature=0.6), persona_name="Ada", backend="embedded",
                                 notice=notices.append))
    yield model
    asyncio.run(model.aclose())


async def _reply(llm: EmbeddedLLM, messages=FRACTIONS, **kwargs) -> list[str]:
    return [d async for d in llm.stream(messages, **kwargs)]


def _looks_like_a_reply(text: str) -> bool:
    words = re.findall(r"[A-Za-z']+", text)
    return len(words) >= 2 and sum(map(len, words)) >= 0.6 * len(text.replace(" ", ""))


@pytest.mark.slow
def test_it_is_the_bundled_base_model(llm):
    assert llm.name == "embedded:gemma-3-270m-q4_k_m"
    assert llm.is_base_model and isinstance(llm, LLM)


@pytest.mark.slow
async def test_fractions_greeting_gets_a_sensible_streamed_reply(llm, no_leaked_tasks):
    deltas = await _reply(llm)
    text = "".join(deltas)
    assert len(deltas) >= 3, deltas  # streamed token by token, not in one piece
    assert _looks_like_a_reply(text), text
    assert "\n" not in text and "User:" not in text and "Ada:" not in text and text == text.strip()
    assert len(deltas) < 160  # it stopped at the end of its line, not at max_tokens


@pytest.mark.slow
async def test_same_input_same_reply(llm):
    assert "".join(await _reply(llm)) == "".join(await _reply(llm))


@pytest.mark.slow
async def test_max_tokens_caps_the_reply(llm):
    assert 1 <= len(await _reply(llm, max_tokens=3)) <= 3


@pytest.mark.slow
async def test_caller_stop_strings_end_the_reply(llm):
    full = "".join(await _reply(llm))
    first_word = full.split()[0]
    cut = "".join(await _reply(llm, stop=[first_word[-1]]))
    assert len(cut) < len(full)


@pytest.mark.slow
async def test_breaking_off_stops_the_worker_and_the_next_turn_works(llm, no_leaked_tasks):
    stream = llm.stream([SYSTEM, Message("user", "Tell me about the planets, one by one.")], max_tokens=160)
    async for _ in stream:
        break
    await stream.aclose()
    history = [*FRACTIONS, Message("assistant", "Of course."), Message("user", "What is a half plus a half?")]
    sentences = [s async for s in split_sentences(llm.stream(history))]
    assert sentences and all(s.strip() for s in sentences)


@pytest.mark.slow
async def test_long_history_is_trimmed_to_the_context(llm):
    history = [SYSTEM] + [
        Message("user" if i % 2 == 0 else "assistant", f"Turn {i}: " + "numbers and fractions " * 20) for i in range(60)
    ]
    history.append(Message("user", "So, what is one third plus one third?"))
    prompt = llm._fit(history, 160)
    assert len(llm._llama.tokenize(prompt.encode())) <= 2048 - 160
    assert "Turn 0:" not in prompt and prompt.endswith("User: So, what is one third plus one third?\nAda:")


@pytest.mark.slow
async def test_closed_model_refuses_politely():
    model = await load_embedded(LLMSettings(), persona_name="Ada")
    await model.aclose()
    with pytest.raises(BackendUnavailable, match="closed"):
        await _reply(model)


async def test_missing_gguf_is_one_clear_line(tmp_path):
    with pytest.raises(UserError, match="llm.gguf: .*does not exist"):
        await load_embedded(LLMSettings(gguf=str(tmp_path / "nope.gguf")))


async def test_a_file_that_is_not_gguf_is_one_clear_line(tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model" * 100)
    with pytest.raises(UserError, match="llm.gguf: .*is not a GGUF file"):
        await load_embedded(LLMSettings(gguf=str(junk)))


def test_threads_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("AGENT_LLM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("AGENT_LLM_THREADS", "many")
    with pytest.raises(UserError, match="AGENT_LLM_THREADS"):
        default_threads()
    monkeypatch.delenv("AGENT_LLM_THREADS")
    assert default_threads() >= 1


@pytest.mark.slow
async def test_a_spanish_persona_gets_a_reply():
    model = await load_embedded(LLMSettings(), persona_name="Lucía", language="es")
    try:
        prompt = [Message("system", "Eres Lucía, profesora."), Message("user", "Hola, ¿me ayudas con las fracciones?")]
        text = "".join([d async for d in model.stream(prompt)])
    finally:
        await model.aclose()
    assert text.strip() and "Usuario:" not in text
