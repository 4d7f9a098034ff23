"""The parts of ``agent serve`` that decide order and time: the fair LLM queue and the peer's
audio output (the session's master clock). Virtual time where they wait."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from agent.core.errors import BackendUnavailable
from agent.core.stages import Message
from agent.llm.fair import FairLLM
from agent.serve.audio_out import FRAME, RATE, PeerAudioOutput
from agent.testing import FakeLLM, run_virtual, speech_chunk

HI = [Message("user", "hi")]


async def _reply(llm, order: list[str], tag: str) -> str:
    out = "".join([t async for t in llm.stream(HI)])
    order.append(tag)
    return out


def test_replies_take_turns_round_robin_across_sessions():
    async def main():
        model = FakeLLM("one two three", delta=4, delay=0.1)
        queue = FairLLM(model, workers=1)
        a, b, c = queue.session("a"), queue.session("b"), queue.session("c")
        order: list[str] = []
        # a asks three times in a row before b and c ask once: b and c do not wait behind all of a's
        tasks = [asyncio.ensure_future(_reply(a, order, f"a{i}")) for i in range(3)]
        await asyncio.sleep(0)
        tasks += [asyncio.ensure_future(_reply(b, order, "b")), asyncio.ensure_future(_reply(c, order, "c"))]
        await asyncio.gather(*tasks)
        return order, queue.busy, max(queue.waits)

    order, busy, longest = run_virtual(main)
    assert order == ["a0", "b", "c", "a1", "a2"]
    assert busy == 0 and longest > 0


def test_a_request_given_up_while_waiting_never_reaches_the_model():
    async def main():
        model = FakeLLM("a reply", delta=2, delay=0.1)
        queue = FairLLM(model, workers=1)
        first = asyncio.ensure_future(_reply(queue.session("a"), [], "a"))
        await asyncio.sleep(0)
        barged = asyncio.ensure_future(_reply(queue.session("b"), [], "b"))
        await asyncio.sleep(0.05)
        barged.cancel()  # the user talked over the agent before its reply began
        await asyncio.gather(first, barged, return_exceptions=True)
        then = await _reply(queue.session("c"), [], "c")
        return len(model.calls), then, queue.busy, queue.waiting

    calls, then, busy, waiting = run_virtual(main)
    assert calls == 2 and then == "a reply" and busy == 0 and waiting == 0


def test_a_full_queue_fails_at_once_with_one_line():
    async def main():
        queue = FairLLM(FakeLLM("slow", delay=1.0), workers=1, max_waiting=1)
        held = [asyncio.ensure_future(_reply(queue.session(), [], str(i))) for i in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(BackendUnavailable, match="busy: 1 replies are waiting"):
            await _reply(queue.session(), [], "late")
        await asyncio.gather(*held)

    run_virtual(main)


def test_the_peer_output_counts_sent_samples_speech_and_gaps():
    async def main():
        out = PeerAudioOutput(buffer_s=0.5)
        out.start_utterance()
        for _ in range(3):  # before any audio: silence, not a gap
            out.pull()
        assert out.underruns == 0 and out.heard() == 0
        await out.play(speech_chunk("one two", 0.1, 16000))  # 0.1 s = 5 frames at 48 kHz
        frames = [out.pull() for _ in range(7)]
        assert out.underruns == 1  # it ran dry mid-utterance: an audible gap, counted once
        assert np.count_nonzero(np.concatenate(frames)) > 0.09 * RATE
        await out.play(speech_chunk("three", 0.04, 16000))
        drained = asyncio.ensure_future(out.drain())
        for _ in range(4):
            out.pull()
            await asyncio.sleep(0)
        await drained
        assert out.underruns == 1  # running dry at the end is the end, not a gap
        assert out.position() == pytest.approx(0.14 * RATE, abs=2)  # speech only, not the silence
        assert out.clock() == pytest.approx(0.14, abs=1e-4)
        # a cancel drops what is queued and reports what was heard of the utterance
        out.start_utterance()
        await out.play(speech_chunk("a long sentence here", 0.4, 16000))
        out.pull()
        heard = out.cancel()
        assert heard == FRAME
        out.pull()
        silent = out.pull()
        assert not silent.any()  # the fade was short; nothing of the cut sentence goes out
        await out.aclose()

    run_virtual(main)


def test_play_waits_while_half_a_second_is_queued():
    async def main():
        out = PeerAudioOutput(buffer_s=0.5)
        out.start_utterance()
        playing = asyncio.ensure_future(out.play(speech_chunk("long", 1.0, 48000)))
        await asyncio.sleep(0.2)
        assert not playing.done()  # 0.5 s queued, the rest waits for the track
        for _ in range(30):
            out.pull()
            await asyncio.sleep(0.02)
        await asyncio.wait_for(playing, 1.0)
        await out.aclose()

    run_virtual(main)
