"""Sentence streaming: order, bounded look-ahead (sentence k+1 is synthesized while k plays),
time to first audio, cancellation and errors, with a scripted TTS and with espeak-ng."""

import asyncio
import itertools
import threading

import numpy as np
import pytest

from agent.core.speech import PhonemeTiming, SpeechChunk
from agent.tts import Prosody
from agent.tts.stream import speak_sentences


class ScriptedTTS:
    """Two chunks per sentence; remembers what it synthesized and what it saw of ``cancel``."""

    name = "scripted"
    sample_rate = 1000

    def __init__(self, fail_on: str | None = None):
        self.started: list[str] = []
        self.produced = 0
        self.saw_cancel = False
        self.fail_on = fail_on

    def synthesize(self, text, prosody, cancel=None):
        self.started.append(text)
        if text == self.fail_on:
            raise RuntimeError("voice exploded")
        for part in range(2):
            if cancel is not None and cancel.is_set():
                self.saw_cancel = True
                return
            self.produced += 1
            yield SpeechChunk(np.full(100, 0.1, np.float32), self.sample_rate, text,
                              (PhonemeTiming("a", 0.0, 0.1),), last=part == 1, meta={"part": part})


async def sentences(*items, gate: asyncio.Event | None = None):
    for i, s in enumerate(items):
        if gate is not None and i == 1:
            await gate.wait()
        yield s


async def test_chunks_come_in_sentence_order(no_leaked_tasks):
    tts = ScriptedTTS()
    got = [c async for c in speak_sentences(tts, sentences("One.", "", "Two.", "Three."), Prosody())]
    assert [(c.text, c.sentence_index, c.meta["part"], c.last) for c in got] == [
        ("One.", 0, 0, False), ("One.", 0, 1, True), ("Two.", 1, 0, False), ("Two.", 1, 1, True),
        ("Three.", 2, 0, False), ("Three.", 2, 1, True)]
    assert all(c.meta["synth_s"] >= 0 and "rtf" in c.meta for c in got)


async def test_next_sentence_is_synthesized_while_the_first_plays_and_lookahead_is_bounded(no_leaked_tasks):
    tts = ScriptedTTS()
    stream = speak_sentences(tts, sentences("A.", "B.", "C.", "D."), Prosody(), lookahead=2)
    first = await stream.__anext__()
    assert first.text == "A."
    for _ in range(50):  # let the producer run as far as the bound lets it
        await asyncio.sleep(0)
        await asyncio.to_thread(lambda: None)
    assert "B." in tts.started  # sentence 1 is under way while sentence 0 is being played
    # one chunk consumed, `lookahead` waiting in the channel, one held by the producer's put
    assert tts.produced <= 1 + 2 + 1
    rest = [c async for c in stream]
    assert [c.text for c in rest] == ["A.", "B.", "B.", "C.", "C.", "D.", "D."]


async def test_time_to_first_audio_is_measured_from_the_first_complete_sentence(no_leaked_tasks):
    ticks = itertools.count()
    clock = lambda: float(next(ticks))  # noqa: E731  every clock read is one "second" later
    got = [c async for c in speak_sentences(ScriptedTTS(), sentences("Hi.", "Bye."), Prosody(),
                                            clock=clock)]
    assert got[0].meta["first_audio_s"] == 2.0  # sentence in (0), synthesis starts (1), chunk out (2)
    assert all("first_audio_s" not in c.meta for c in got[1:])


async def test_cancel_stops_the_stream_and_the_synthesizer(no_leaked_tasks):
    tts = ScriptedTTS()
    cancel = threading.Event()
    gate = asyncio.Event()
    got = []
    async for chunk in speak_sentences(tts, sentences("A.", "B.", "C.", gate=gate), Prosody(), cancel):
        got.append(chunk)
        cancel.set()
        gate.set()
    assert len(got) == 1
    assert "C." not in tts.started


async def test_closing_early_cancels_the_worker(no_leaked_tasks):
    tts = ScriptedTTS()
    cancel = threading.Event()
    stream = speak_sentences(tts, sentences("A.", "B.", "C."), Prosody(), cancel)
    async for _ in stream:
        break
    await stream.aclose()
    assert cancel.is_set()


async def test_a_full_stream_leaves_cancel_unset(no_leaked_tasks):
    cancel = threading.Event()
    _ = [c async for c in speak_sentences(ScriptedTTS(), sentences("A."), Prosody(), cancel)]
    assert not cancel.is_set()


async def test_a_backend_error_reaches_the_consumer(no_leaked_tasks):
    with pytest.raises(RuntimeError, match="voice exploded"):
        async for _ in speak_sentences(ScriptedTTS(fail_on="B."), sentences("A.", "B."), Prosody()):
            pass


@pytest.mark.slow
async def test_espeak_streams_a_reply_as_the_llm_writes_it(no_leaked_tasks):
    from agent.tts.espeak import EspeakTTS

    async def llm():
        for s in ("Good morning.", "Shall we start with fractions?", "They are easier than they look."):
            await asyncio.sleep(0)  # the LLM hands over one sentence at a time
            yield s

    got = [c async for c in speak_sentences(EspeakTTS("en-us"), llm(), Prosody())]
    assert [c.sentence_index for c in got] == [0, 1, 2]
    assert got[1].text == "Shall we start with fractions?"
    assert 0 < got[0].meta["first_audio_s"] < 2.0
    assert all(c.phonemes[-1].end == pytest.approx(c.duration) for c in got)
