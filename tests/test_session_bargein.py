"""Barge-in through the whole session, from a file at real-time pace with the real hearing stage
(silero-vad, Whisper, the backchannel head) and real speech: the agent tells a story; the user
says "uh-huh" (the agent talks on, or pauses and goes on) and later cuts in with a question (the
agent goes quiet within 300 ms, and what it had said until then is what enters the history)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import soundfile as sf

from agent.bench.speech import PiperLines, espeak, mix
from agent.core import events as ev
from agent.core.bus import EventBus
from agent.session import Session
from agent.testing import fake_pipeline
from agent.turn_taking import listen
from perception.audio_source import SAMPLE_RATE
from perception.hearing import build_hearing
from persona.config import Voice

pytestmark = pytest.mark.slow

STORY = ("Long ago, in a small village by the sea, there lived an old fisherman who knew every "
         "wave by its name. Each morning he rowed out before the sun, and each evening he came back "
         "with stories that the children loved to hear, about storms and whales and islands.")
ACK_AT, QUESTION_AT = 3.0, 8.0  # seconds into the user's file
QUESTION = "Wait, stop, I have a question about that."


async def test_an_acknowledgement_lets_the_agent_talk_on_and_a_question_stops_it(tmp_path, no_leaked_tasks):
    from agent.tts import make_tts

    user = mix(QUESTION_AT + 4.0, [(ACK_AT, PiperLines().say("uh-huh"), 0.5),
                                   (QUESTION_AT, espeak(QUESTION), 0.5)], noise_db=-50, seed=3)
    wav = tmp_path / "user.wav"
    sf.write(wav, user, SAMPLE_RATE)
    bus = EventBus()
    tts = make_tts(Voice(backend="espeak", espeak_voice="en-us"))
    parts = fake_pipeline(reply=["Of course, ask away."], tts=tts, realtime=True)
    parts.hearing = build_hearing(bus, input_audio=wav, realtime=True)
    parts.turns = listen(bus, parts.hearing)
    parts.ends_with = ("hearing",)
    seen: list[ev.Event] = []
    bus.observe(seen.append)
    session = Session(parts, bus=bus, say=lambda s: None)
    runner = asyncio.ensure_future(session.run())
    await session.ready.wait()
    await bus.publish(ev.PluginCommand(plugin="test", command="say", args={"text": STORY}))
    await asyncio.wait_for(runner, 60)

    origin = parts.hearing.source.origin

    def at(e: ev.Event) -> float:  # on the input file's clock
        return e.t - origin

    interrupts = [e for e in seen if isinstance(e, ev.Interrupt)]
    assert interrupts and all(at(e) > QUESTION_AT for e in interrupts), [at(e) for e in interrupts]
    quiet = [e for e in seen if isinstance(e, (ev.Pause, ev.Interrupt)) and at(e) > QUESTION_AT]
    assert at(quiet[0]) - QUESTION_AT < 0.35, at(quiet[0])  # 300 ms on the input clock, + event delivery
    # the "uh-huh" did not end the story: it went on to what it says well after 3 s
    story = next(e for e in seen if isinstance(e, ev.UtteranceEnded))
    assert story.interrupted
    assert len(story.heard_text.split()) > 5.0 * len(STORY.split()) / 15, story.heard_text  # ~3 words/s
    assert all(b.outcome != "interrupt" for b in parts.turns.barge_ins if b.onset < QUESTION_AT - 1)
    # the question is the user's turn, answered
    turns = [e for e in seen if isinstance(e, ev.EndOfTurn)]
    # (its words as Whisper tiny hears espeak: the start is sure, the rest varies by CPU)
    assert len(turns) == 1 and turns[0].text.lower().startswith("wait, stop"), [t.text for t in turns]
    history = list(parts.dialogue.history)  # what the agent said, then the user's turn
    assert [turn.user for turn in history] == ["", turns[0].text]
    replies = [e for e in seen if isinstance(e, ev.UtteranceEnded)]
    assert len(replies) == 2 and not replies[1].interrupted
    assert np.isfinite([at(e) for e in seen]).all()
