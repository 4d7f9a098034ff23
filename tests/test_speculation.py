"""A reply prepared while the turn waits out its silence: spoken when the turn ends with the same
words, thrown away when the user goes on — through the real session and responder."""

import asyncio

import pytest

from agent.core import events as ev
from agent.core.bus import EventBus
from agent.session import Session
from agent.testing import FakeLLM, VirtualTimePolicy, fake_pipeline


@pytest.fixture
def event_loop_policy():
    """Virtual time (agent.testing): the sleeps below jump; what runs in threads still takes
    its real time, so the session's timing is as live."""
    return VirtualTimePolicy()

async def _session(llm_delay: float = 0.0):
    pipeline = fake_pipeline(reply=["Of course. Let's start with halves."])
    pipeline.dialogue.llm = FakeLLM("Of course. Let's start with halves.", delay=llm_delay)
    bus = EventBus()
    seen: list[ev.Event] = []
    bus.observe(seen.append)
    session = Session(pipeline, bus=bus, say=lambda s: None)
    runner = asyncio.ensure_future(session.run())
    await session.ready.wait()
    return pipeline, bus, seen, session, runner


async def _until(seen, kind, n=1):
    for _ in range(2000):
        if sum(isinstance(e, kind) for e in seen) >= n:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"no {kind.__name__}")


async def test_a_prepared_reply_is_spoken_when_the_turn_ends_with_its_words():
    pipeline, bus, seen, session, runner = await _session()
    await bus.publish(ev.TurnEndLikely(text="Can you help me with fractions"))
    await asyncio.sleep(0.05)  # the reply is prepared meanwhile
    assert len(pipeline.dialogue.llm.calls) == 1 and not any(isinstance(e, ev.UtteranceStarted) for e in seen)
    await bus.publish(ev.EndOfTurn(text="Can you help me with fractions"))
    await _until(seen, ev.UtteranceEnded)
    await bus.publish(ev.Stop())
    report = await asyncio.wait_for(runner, 5)
    assert len(pipeline.dialogue.llm.calls) == 1  # the LLM was asked once, before the turn ended
    assert report.speculative == (1, 1, 0)
    ended = next(e for e in seen if isinstance(e, ev.UtteranceEnded))
    assert ended.heard_text == "Of course. Let's start with halves."
    assert [t.user for t in pipeline.dialogue.history] == ["Can you help me with fractions"]


async def test_a_prepared_reply_is_thrown_away_when_the_user_goes_on():
    pipeline, bus, seen, session, runner = await _session(llm_delay=0.01)
    await bus.publish(ev.TurnEndLikely(text="So I was thinking that"))
    await asyncio.sleep(0.02)
    await bus.publish(ev.UserSpeechStarted(audio_t=2.0))  # ... the user goes on
    await bus.publish(ev.EndOfTurn(text="So I was thinking that we could do decimals"))
    await _until(seen, ev.UtteranceEnded)
    await bus.publish(ev.Stop())
    report = await asyncio.wait_for(runner, 5)
    assert report.speculative == (1, 0, 1)
    prompts = [e for e in seen if isinstance(e, ev.Prompt)]
    assert prompts[-1].messages[-2] == ("user", "So I was thinking that we could do decimals")
    # what was read speculatively left nothing behind: one turn in the history, one emotion step
    assert [t.user for t in pipeline.dialogue.history] == ["So I was thinking that we could do decimals"]
    assert len(pipeline.understanding.engine.calls) == 2  # the speculative reading and the real one
