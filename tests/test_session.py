"""The session's rules with real speech, audio clock, animation and recording code; the LLM
and the emotion model are the test kit's (``agent.testing``; the real ones are tested in
test_llm_*, test_emotion_* and test_chat_cli)."""

import asyncio

import numpy as np
import pytest

from agent.core import events as ev
from agent.core.bus import EventBus
from agent.recorder import Recording
from agent.session import Session
from agent.testing import VirtualTimePolicy, fake_pipeline
from agent.turn_state import TurnState
from persona.config import Voice


@pytest.fixture
def event_loop_policy():
    """Virtual time (agent.testing): the sleeps below jump; what runs in threads still takes
    its real time, so the session's timing is as live."""
    return VirtualTimePolicy()

@pytest.fixture(scope="module")
def espeak():
    from agent.tts import make_tts

    return make_tts(Voice(backend="espeak", espeak_voice="en-us"))


def make_parts(espeak, reply, realtime, recording=None):
    return fake_pipeline(reply=reply, tts=espeak, realtime=realtime, recording=recording)


def committed(parts):
    return [(t.user, t.reply) for t in parts.dialogue.history]


async def collect(bus: EventBus):
    seen: list[ev.Event] = []
    bus.observe(seen.append)
    return seen


async def test_typed_turn_gets_a_spoken_reply_and_the_session_ends(espeak, no_leaked_tasks, tmp_path):
    parts = make_parts(espeak, ["Hello there.", "Shall we start?"], realtime=False,
                       recording=Recording(tmp_path / "x.mp4", 30, (64, 64), espeak.sample_rate))
    bus = EventBus()
    seen = await collect(bus)
    session = Session(parts, bus=bus, say=lambda s: None)
    runner = asyncio.ensure_future(session.run())
    await asyncio.sleep(0.05)
    await bus.publish(ev.UserText(text="Hi, can you help me with fractions?"))
    while not any(isinstance(e, ev.TurnLatency) for e in seen):
        await asyncio.sleep(0.01)
    await bus.publish(ev.Stop(reason="test done"))  # no input stage: the session runs until told
    report = await asyncio.wait_for(runner, 20)
    kinds = [type(e).__name__ for e in seen]
    for k in ("UserText", "AffectEstimated", "UserAffect", "AgentEmotion", "ReplySentence",
              "UtteranceStarted", "UtteranceEnded", "TurnLatency", "Stop"):
        assert k in kinds, k
    assert kinds.index("AgentEmotion") < kinds.index("ReplySentence") < kinds.index("UtteranceStarted")
    ended = next(e for e in seen if isinstance(e, ev.UtteranceEnded))
    assert not ended.interrupted and ended.heard_text == "Hello there. Shall we start?"
    assert committed(parts) == [("Hi, can you help me with fractions?", ended.heard_text)]
    assert report.turns and "first_audio" in report.turns[0]
    # the recording holds the reply's audio on the session timeline
    track = parts.recording.audio_track(parts.recording.duration)
    assert np.abs(track).max() > 0.05


async def _speaking(espeak, reply, seconds: float, **parts_kw):
    """A session saying ``reply``, ``seconds`` into it."""
    parts = make_parts(espeak, reply, realtime=True, **parts_kw)
    bus = EventBus()
    seen = await collect(bus)
    session = Session(parts, bus=bus, say=lambda s: None)
    runner = asyncio.ensure_future(session.run())
    await asyncio.sleep(0.02)
    await bus.publish(ev.UserText(text="Count for me"))
    while session.turn.state is not TurnState.SPEAKING:
        await asyncio.sleep(0.01)
    await asyncio.sleep(seconds)
    return parts, bus, seen, session, runner


async def _ended(bus, seen, runner):
    while not any(isinstance(e, ev.UtteranceEnded) for e in seen):
        await asyncio.sleep(0.01)
    await bus.publish(ev.Stop(reason="test done"))
    await asyncio.wait_for(runner, 10)
    return next(e for e in seen if isinstance(e, ev.UtteranceEnded))


COUNT = ["One two three four five six seven eight nine ten eleven twelve."]


async def test_interrupt_stops_speech_and_only_what_was_heard_is_kept(espeak, no_leaked_tasks, tmp_path):
    rec = Recording(tmp_path / "x.mp4", 30, (64, 64), espeak.sample_rate)
    parts, bus, seen, session, runner = await _speaking(espeak, COUNT, 0.6, recording=rec)
    await bus.publish(ev.Interrupt(reason="barge-in"))
    ended = await _ended(bus, seen, runner)
    assert ended.interrupted
    assert len(ended.heard_text) < len(COUNT[0]) / 2
    assert committed(parts)[-1][1] == ended.heard_text
    states = [(e.old, e.new) for e in seen if isinstance(e, ev.TurnStateChanged)]
    assert ("speaking", "interrupted") in states and ("interrupted", "listening") in states
    # the recording stops where the interrupt was: nothing after it
    assert rec.duration < 2.0
    # the audio clock stopped: nothing more was "played" than was heard (+ one buffer)
    assert parts.output.position() / parts.output.sample_rate < 1.5
    # the mouth is at rest right after the interrupt
    cut = next(e for e in seen if isinstance(e, ev.Interrupt)).t - session.clock.t0
    state = parts.animator.frame(cut + 1 / 30)
    assert state["jawOpen"] < 0.1 and not state.speaking


async def test_a_pause_goes_quiet_and_resume_goes_on_from_the_cut_word(espeak, no_leaked_tasks):
    """"Uh-huh" over the agent: it pauses, then says the rest of its reply from the word it
    stopped in — at once, though the next sentence was already waiting to be played; the whole
    reply is heard and enters the history."""
    reply = COUNT + ["Thirteen fourteen."]
    parts, bus, seen, session, runner = await _speaking(espeak, reply, 0.8)
    await bus.publish(ev.Pause(reason="barge-in"))
    await asyncio.sleep(0.05)
    assert session.turn.state is TurnState.PAUSED
    held = parts.output.position()
    await asyncio.sleep(0.4)
    rate = parts.output.sample_rate
    assert parts.output.position() - held < 0.06 * rate  # quiet: the clock stands
    assert not parts.animator.frame(session.clock()).speaking
    await bus.publish(ev.Resume(reason="backchannel"))
    await asyncio.sleep(0.2)
    assert parts.output.position() - held > 0.1 * rate  # talking again
    ended = await _ended(bus, seen, runner)
    assert not ended.interrupted
    assert ended.heard_text.lower().replace(".", "").split() == " ".join(reply).lower().replace(".", "").split()
    assert committed(parts) == [("Count for me", ended.heard_text)]
    states = [(e.old, e.new) for e in seen if isinstance(e, ev.TurnStateChanged)]
    assert ("speaking", "paused") in states and ("paused", "speaking") in states


async def test_an_interrupt_after_a_pause_keeps_what_was_heard_before_it(espeak, no_leaked_tasks):
    parts, bus, seen, session, runner = await _speaking(espeak, COUNT, 0.8)
    await bus.publish(ev.Pause(reason="barge-in"))
    await asyncio.sleep(0.5)  # the user's words are being looked at
    await bus.publish(ev.Interrupt(reason="barge-in"))
    ended = await _ended(bus, seen, runner)
    assert ended.interrupted and 0 < len(ended.heard_text.split()) < 6, ended.heard_text
    assert committed(parts)[-1][1] == ended.heard_text
    states = [(e.old, e.new) for e in seen if isinstance(e, ev.TurnStateChanged)]
    assert ("paused", "interrupted") in states


async def test_a_stuck_stage_cannot_hold_shutdown(espeak, no_leaked_tasks):
    class StuckHearing:
        async def aclose(self):
            pass

        async def run(self):
            while True:
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    await asyncio.sleep(3)  # ignores the first cancel
                    raise

    parts = make_parts(espeak, ["Hi."], realtime=False)
    parts.hearing = StuckHearing()
    parts.ends_with = ()
    bus = EventBus()
    session = Session(parts, bus=bus, say=lambda s: None)
    runner = asyncio.ensure_future(session.run())
    await asyncio.sleep(0.02)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await bus.publish(ev.Stop(reason="test"))
    await asyncio.wait_for(runner, 5)
    assert loop.time() - start < 2.0
    for t in asyncio.all_tasks():  # let the misbehaving task finish so nothing leaks
        if "hearing" in t.get_name():
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)


async def test_plugin_commands_say_and_set_emotion(espeak, no_leaked_tasks):
    parts = make_parts(espeak, ["unused"], realtime=False)
    bus = EventBus()
    seen = await collect(bus)
    session = Session(parts, bus=bus, say=lambda s: None)
    runner = asyncio.ensure_future(session.run())
    await asyncio.sleep(0.02)
    await bus.publish(ev.PluginCommand(plugin="ws", command="set_emotion",
                                       args={"emotion": "sadness:0.5"}))
    await bus.publish(ev.PluginCommand(plugin="ws", command="say", args={"text": "Hello robot."}))
    while not any(isinstance(e, ev.UtteranceEnded) for e in seen):
        await asyncio.sleep(0.01)
    await bus.publish(ev.Stop())
    await asyncio.wait_for(runner, 5)
    emotions = [e for e in seen if isinstance(e, ev.AgentEmotion)]
    assert emotions and emotions[0].label == "sadness"
    started = next(e for e in seen if isinstance(e, ev.UtteranceStarted))
    assert started.text == "Hello robot."
    assert committed(parts) == [("", "Hello robot.")]  # what the agent said is in its history
