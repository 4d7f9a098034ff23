"""Emotion → prosody, measured on the audio: for the same text, the median F0 (Praat, through
parselmouth) and the speaking rate rise from sadness to neutral to joy and anger, in both
backends, with the persona's voice as the baseline."""

import numpy as np
import pytest

from agent.tts import Prosody, prosody_for
from agent.tts.pitch import f0_contour
from persona.config import Voice
from persona.emotion import Emotion

TEXTS = (("I walked down to the market this morning, and I bought some bread for the week.", 21),
         ("The weather was lovely, so we stayed outside until the sun went down.", 18))
LADDER = ("sadness", "neutral", "joy", "anger")


def test_mapping_follows_the_literature():
    voice = Voice(rate=1.0, pitch=0.0, pitch_range=1.0, volume=1.0)
    p = {label: prosody_for(Emotion.from_label(label), voice) for label in LADDER}
    p["fear"] = prosody_for(Emotion.from_label("fear"), voice)
    assert p["neutral"] == Prosody()
    for hot in ("joy", "anger", "fear"):  # arousal: faster, higher, wider, louder, shorter pauses
        assert p[hot].rate > 1 and p[hot].pitch_semitones > 1 and p[hot].pitch_range > 1
        assert p[hot].volume > 1 and p[hot].pause_scale < 1
    s = p["sadness"]  # low valence, low arousal: slower, lower, narrower, softer, longer pauses
    assert s.rate < 0.9 and s.pitch_semitones < -1 and s.pitch_range < 1
    assert s.volume < 1 and s.pause_scale > 1.2


def test_persona_voice_is_the_baseline_and_intensity_scales_the_change():
    calm = Voice(rate=0.8, pitch=-2.0, pitch_range=0.7, volume=0.9)
    n = prosody_for(Emotion.neutral(), calm)
    assert (n.rate, n.pitch_semitones, n.pitch_range, n.volume) == (0.8, -2.0, 0.7, 0.9)
    weak = prosody_for(Emotion.from_label("joy", 0.3), calm)
    strong = prosody_for(Emotion.from_label("joy", 1.0), calm)
    assert n.rate < weak.rate < strong.rate
    assert n.pitch_semitones < weak.pitch_semitones < strong.pitch_semitones


def test_prosody_stays_in_range_at_the_extremes():
    loud = Voice(rate=2.0, pitch=12.0, pitch_range=3.0, volume=2.0)
    for vad in [(1, 1, 1), (-1, -1, -1), (-1, 1, -1)]:
        p = prosody_for(Emotion.from_vad(vad), loud)
        assert 0.5 <= p.rate <= 2 and -12 <= p.pitch_semitones <= 12 and 0 <= p.pitch_range <= 3
        assert 0 <= p.volume <= 2 and 0.3 <= p.pause_scale <= 3


def measure(tts, prosody):
    """Median F0 (Hz) and speaking rate (syllables per second from the first to the last audible
    10 ms frame, pauses included) over both texts; Piper's duration noise averages out."""
    f0s, syllables, seconds = [], 0, 0.0
    for text, n in TEXTS:
        chunks = list(tts.synthesize(text, prosody))
        audio = np.concatenate([c.audio for c in chunks])
        sr = chunks[0].sample_rate
        f0s.append(f0_contour(audio, sr))
        frame = sr // 100
        rms = np.sqrt(np.mean(audio[: len(audio) // frame * frame].reshape(-1, frame) ** 2, axis=1))
        active = np.flatnonzero(rms > rms.max() * 10 ** (-35 / 20))
        seconds += (active[-1] - active[0] + 1) / 100
        syllables += n
    return float(np.median(np.concatenate(f0s))), syllables / seconds


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["piper", "espeak"])
def test_f0_and_rate_rise_from_sad_to_neutral_to_aroused(backend):
    from agent.tts import make_tts

    voice = Voice(backend=backend, rate=0.95, pitch=1.0, pitch_range=1.1, volume=1.0)
    tts = make_tts(voice)
    got = {label: measure(tts, prosody_for(Emotion.from_label(label), voice)) for label in LADDER}
    f0 = {k: v[0] for k, v in got.items()}
    rate = {k: v[1] for k, v in got.items()}
    st = lambda a, b: 12 * np.log2(f0[b] / f0[a])  # noqa: E731
    assert st("sadness", "neutral") > 1.0, f0
    assert st("neutral", "joy") > 1.5 and st("neutral", "anger") > 1.5, f0
    assert rate["sadness"] < 0.95 * rate["neutral"], rate
    assert rate["joy"] > 1.04 * rate["neutral"] and rate["anger"] > 1.04 * rate["neutral"], rate
