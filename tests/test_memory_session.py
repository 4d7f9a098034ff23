"""Memory in a session: the next session recalls into the turn's note (never the top of the
prompt), greets from what it knows, starts the persona's mood from the user's remembered affect;
a chat model writes the notes and the summary; nothing remembered goes into the logs; Ctrl-C
does not wait for it."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from test_memory_extract import bag_of_words

from agent.core.errors import BackendUnavailable
from agent.memory import Memory, MemoryStore, stage
from agent.session import Session
from agent.testing import FakeLLM, fake_pipeline
from persona.config import get_persona
from persona.transition import EmotionEngine

TUTOR = get_persona("tutor")


async def _session(path, typed, *, greet=False, reply="Good luck with that."):
    p = fake_pipeline(TUTOR, reply=[reply], voice=False, typed_input=True, ends_with=("keyboard",))
    p.memory = await Memory.open("sam", TUTOR, None, path=path, embed=bag_of_words)
    p.greet = greet
    said: list[str] = []
    await Session(p, on_text=said.append, typed=typed, say=lambda text: None).run()
    return p, said


async def test_the_next_session_recalls_into_the_turns_note_and_greets(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "memory.sqlite3"
    first, _ = await _session(path, ["My name is Sam and I have a chemistry exam on Friday."])
    assert first.memory is not None and first.memory.recalled == [[]]  # a stranger: nothing to recall
    store = MemoryStore(path)
    assert {(f.kind, f.value) for f in store.facts("sam")} == {("name", "Sam"), ("event", "chemistry exam")}
    [past] = store.sessions("sam")
    assert past.turns == 1 and past.ended is not None and "chemistry" in (past.summary or "")
    assert past.vad is not None and past.confidence > 0  # the fake understanding reads the words as upset
    store.close()

    _, said = await _session(path, [], greet=True)
    assert " ".join(said) == "Welcome back, Sam — how did the chemistry exam go?"

    second, _ = await _session(path, ["What do you remember about my exam?"])
    assert second.memory is not None
    [recalled] = second.memory.recalled
    assert any("chemistry exam" in r for r in recalled)
    prompt = second.dialogue.llm.calls[-1]
    assert prompt[0].role == "system" and "chemistry" not in prompt[0].content  # the cached prefix
    assert prompt[-2].content == "What do you remember about my exam?"
    assert prompt[-1].role == "system" and "You remember: " in prompt[-1].content
    assert all(r.rstrip(".") in prompt[-1].content for r in recalled)
    assert "chemistry" not in caplog.text and "Friday" not in caplog.text  # nothing remembered is logged


def _remember_sessions(path, user, vad, n=2):
    store = MemoryStore(path)
    for _ in range(n):
        sid = store.record_turn(user, "tutor", None, (vad, 0.8), [])
        store.end_session(sid, None, None)
    store.close()


def _engine(real: bool = False) -> EmotionEngine:
    """The persona's emotion engine; where a test only starts it, without the learned step's models."""
    return EmotionEngine(TUTOR) if real else EmotionEngine(TUTOR, encoder=object(), head=object())  # type: ignore[arg-type]


async def test_a_user_who_was_low_is_met_more_gently_through_the_emotion_model(tmp_path):
    path = tmp_path / "memory.sqlite3"
    _remember_sessions(path, "low", (-0.6, -0.3, -0.3))
    _remember_sessions(path, "bright", (0.7, 0.4, 0.3))
    starts = {}
    for user in ("low", "bright", "stranger"):
        memory = await Memory.open(user, TUTOR, None, path=path, embed=bag_of_words)
        engine = _engine()
        memory.meet(engine)
        starts[user] = (engine.state.vad, tuple(engine.mood.vad))
        await memory.finish()
    baseline = _engine().dyn.baseline
    assert starts["stranger"][1] == pytest.approx(baseline)
    low, bright = starts["low"][0], starts["bright"][0]
    assert low[0] < baseline[0] - 0.05 < bright[0]  # less cheerful than with a bright user
    assert low[2] < baseline[2]  # and less assertive
    assert starts["low"][1][0] < baseline[0]  # the mood, not just the moment: it relaxes back over minutes


async def test_a_chat_model_writes_the_notes_and_the_summary(tmp_path):
    path = tmp_path / "memory.sqlite3"
    llm = FakeLLM("- The user has a physics test on Monday.\n- The user's little brother is called Leo.",
                  "The user is preparing for a physics test and seemed nervous.")
    memory = await Memory.open("jo", TUTOR, llm, path=path, embed=bag_of_words)
    await memory.remember("ugh, physics on monday and leo keeps bugging me", "Let's plan your revision.")
    await memory.finish(graceful=True)
    store = MemoryStore(path)
    facts = store.facts("jo")
    assert {f.text for f in facts} == {"The user has a physics test on Monday.",
                                       "The user's little brother is called Leo."}
    assert {f.source for f in facts} == {"ugh, physics on monday and leo keeps bugging me"}
    assert store.sessions("jo")[0].summary == "The user is preparing for a physics test and seemed nervous."
    store.close()


class _DownLLM(FakeLLM):
    async def stream(self, messages, *, max_tokens=None, stop=()):
        raise BackendUnavailable("Ollama at http://127.0.0.1:11434 is not answering")
        yield ""


async def test_when_the_server_is_gone_the_rules_take_the_turn(tmp_path):
    path = tmp_path / "memory.sqlite3"
    memory = await Memory.open("jo", TUTOR, _DownLLM(), path=path, embed=bag_of_words)
    await memory.remember("My name is Jo and I have a physics test on Monday.", "")
    await memory.finish(graceful=True)
    store = MemoryStore(path)
    assert {f.value for f in store.facts("jo")} == {"Jo", "physics test"}
    assert (store.sessions("jo")[0].summary or "").startswith("Jo said: ")  # extractive
    store.close()


async def test_ctrl_c_does_not_wait_for_a_stuck_model(tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "CLOSE_S", 0.2)
    path = tmp_path / "memory.sqlite3"
    memory = await Memory.open("jo", TUTOR, FakeLLM("The user likes tea.", delay=30.0), path=path,
                               embed=bag_of_words)
    await memory.remember("I like tea.", "Me too.")
    await asyncio.sleep(0)
    started = time.monotonic()
    await memory.finish(graceful=False)
    assert time.monotonic() - started < 1.5
    await memory.finish(graceful=False)  # idempotent
    assert await memory.recall("tea") == []  # finished: a no-op, not an error
    await memory.remember("I like coffee.", "")


async def test_memory_never_runs_on_the_event_loop(tmp_path):
    """Opening, MiniLM, extraction and SQLite all run in the memory's worker (the probe times
    every step the loop runs)."""
    from agent.testing import StepProbe
    from perception.embeddings import embed

    embed(["warm"])  # the model's load is not what is measured
    path = tmp_path / "memory.sqlite3"
    _remember_sessions(path, "sam", (0.1, 0.1, 0.1))
    with StepProbe() as probe:
        memory = await Memory.open("sam", TUTOR, None, path=path)
        for text in ("My name is Sam and I have a chemistry exam on Friday.", "I find titrations hard."):
            await memory.recall(text)
            await memory.remember(text, "OK.")
        await memory.finish()
    assert probe.worst_ms < 20.0, probe.slowest


test_memory_never_runs_on_the_event_loop = pytest.mark.slow(test_memory_never_runs_on_the_event_loop)


@pytest.mark.slow
async def test_the_first_reply_to_a_user_who_was_low_is_sadder_than_to_a_stranger(tmp_path):
    """The whole emotion model: the remembered mood is where the learned transition starts from."""
    path = tmp_path / "memory.sqlite3"
    _remember_sessions(path, "low", (-0.6, -0.3, -0.3), n=3)
    felt = {}
    for user in ("low", "stranger"):
        memory = await Memory.open(user, TUTOR, None, path=path)
        engine = _engine(real=True)
        memory.meet(engine)
        felt[user] = await asyncio.to_thread(engine.respond, "Hi, it's me again.", None, "", 1.0)
        await memory.finish()
    assert felt["low"].vad[0] < felt["stranger"].vad[0]
