"""silero-vad segmentation on real synthesized speech with noise and silence mixed in: the
utterances found are the ones placed, with their boundaries within a frame or two."""

from __future__ import annotations

import numpy as np
import pytest
from speech_fixtures import SENTENCES, mix

from perception.audio_source import FRAME, SAMPLE_RATE
from perception.vad import Segmenter, SegState, SileroVad, VadConfig, segment_audio

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


def test_segments_match_the_placed_sentences(vad: SileroVad, speech) -> None:
    a, b = speech.say(SENTENCES[0]), speech.say(SENTENCES[1])
    t_a, t_b = 1.0, 1.0 + len(a) / SAMPLE_RATE + 1.5
    signal = mix(t_b + len(b) / SAMPLE_RATE + 1.0, [(t_a, a, 0.5), (t_b, b, 0.5)], noise_db=-40, seed=3)
    segs = segment_audio(signal, vad, VadConfig(min_silence_ms=300))
    assert len(segs) == 2
    for seg, start, audio in zip(segs, (t_a, t_b), (a, b)):
        end = start + len(audio) / SAMPLE_RATE
        assert abs(seg.onset - start) <= 0.1, (seg.onset, start)
        assert abs(seg.offset - end) <= 0.15, (seg.offset, end)
        assert seg.start <= seg.onset and seg.end >= seg.offset  # padding around the voice
        assert seg.confidence > 0.8
        assert len(seg.audio) == pytest.approx((seg.end - seg.start) * SAMPLE_RATE, abs=1)


def test_noise_and_silence_alone_hold_no_speech(vad: SileroVad) -> None:
    signal = mix(4.0, [], noise_db=-30, seed=5)
    assert segment_audio(signal, vad) == []


def test_min_silence_splits_or_joins(vad: SileroVad, speech) -> None:
    a, b = speech.say("Good morning."), speech.say("How are you?")
    gap = 0.5
    signal = mix(4.0, [(0.5, a, 0.5), (0.5 + len(a) / SAMPLE_RATE + gap, b, 0.5)], noise_db=-45)
    assert len(segment_audio(signal, vad, VadConfig(min_silence_ms=200))) == 2
    assert len(segment_audio(signal, vad, VadConfig(min_silence_ms=900))) == 1


def test_segmenter_table_drops_a_click() -> None:
    """The machine alone, on scripted probabilities: a one-frame burst is marked, not an utterance."""
    seg = Segmenter(VadConfig(min_speech_ms=96, min_silence_ms=96, speech_pad_ms=32))
    silent = np.zeros(FRAME, np.float32)
    events = []
    for i, p in enumerate([0.0, 0.9, 0.0, 0.0, 0.0, 0.0]):
        events += seg.feed(i * FRAME / SAMPLE_RATE, silent, p)
    ends = [e for e in events if hasattr(e, "segment")]
    assert len(ends) == 1 and ends[0].segment.burst and seg.state is SegState.SILENCE
