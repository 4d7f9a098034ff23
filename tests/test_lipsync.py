"""Phonemes → visemes → mouth, bilabial closure on the audio clock, audio-driven fallback, and
mouth/audio sync measured on real synthesized speech."""

from dataclasses import replace

import numpy as np
import pytest

from agent.core.face_state import INDEX
from agent.core.speech import PhonemeTiming, SpeechChunk
from persona.config import get_persona
from persona.emotion import Emotion
from render.animator import Animator
from render.lipsync import (
    RATE,
    VISEMES,
    articulate,
    envelope,
    is_bilabial,
    lip_gap,
    mouth_track,
    opening_from_audio,
    phoneme_track,
    speech_beats,
    viseme_of,
)

SR = 16000
FPS = 30.0


@pytest.mark.parametrize("visemes, phonemes", [
    ("PP", "p b m"), ("FF", "f v"), ("TH", "θ ð"), ("DD", "t d ɾ"), ("kk", "k ɡ ŋ"),
    ("CH", "tʃ dʒ ʃ ʒ"), ("SS", "s z"), ("nn", "n l n̩"), ("RR", "ɹ ɚ ɜː"),
    ("aa", "ɑː æ ʌ ə ɐ a aɪ aʊ"), ("E", "ɛ e eɪ"), ("ih", "ɪ iː i j"), ("oh", "ɔ o oʊ"),
    ("ou", "ʊ uː w"), ("sil", "_"),
])
def test_ipa_maps_to_the_oculus_visemes(visemes, phonemes):
    for p in phonemes.split():
        assert viseme_of(p) == visemes, p


def test_h_and_glottal_stop_take_their_neighbours_shape():
    assert viseme_of("h") is None and viseme_of("ʔ") is None
    chunk = speech([("_", 0.1), ("h", 0.08), ("uː", 0.2), ("_", 0.1)])
    track = phoneme_track(chunk, 0.0)
    pose, _ = track.at(0.14)  # inside the h: already rounding toward uː
    assert pose[INDEX["mouthPucker"]] > 0.3
    assert set(VISEMES) >= {"sil", "PP", "ou"}


def speech(phones: list[tuple[str, float]], stressed: tuple[int, ...] = (),
           audio: np.ndarray | None = None) -> SpeechChunk:
    """A chunk with back-to-back phoneme timings (durations in seconds)."""
    out, t = [], 0.0
    for i, (p, d) in enumerate(phones):
        out.append(PhonemeTiming(p, t, t + d, i in stressed))
        t += d
    if audio is None:
        audio = np.zeros(int(round(t * SR)), np.float32)
    return SpeechChunk(audio=audio, sample_rate=SR, text="", phonemes=tuple(out))


# "maybe a bob, pap" with a 20 ms /b/: shorter than a frame at 30 fps
PHONES = [("_", 0.12), ("m", 0.07), ("e", 0.12), ("ɪ", 0.05), ("b", 0.02), ("iː", 0.12),
          ("ɐ", 0.08), ("b", 0.06), ("ɑː", 0.18), ("b", 0.07), ("_", 0.15), ("p", 0.08),
          ("æ", 0.16), ("p", 0.09), ("_", 0.2)]


def nearest_frames(animator: Animator, chunk: SpeechChunk, start: float):
    for p in chunk.phonemes:
        centre = start + (p.start + p.end) / 2
        k = round(centre * animator.fps)  # the rendered frame nearest the phoneme's centre
        yield p, animator.frame(k / animator.fps)


@pytest.mark.parametrize("emotion", ["neutral", "joy", "surprise", "fear"])
def test_bilabials_close_the_lips_at_their_timestamps_whatever_the_expression(emotion):
    persona = get_persona("tutor")
    animator = Animator(persona, fps=FPS, seed=0)
    animator.set_emotion(Emotion.from_label(emotion), 0.0)
    chunk = speech(PHONES, stressed=(2, 8, 12))
    start = 1.0 + 0.013  # not on a frame boundary
    animator.speak(chunk, start)
    closed = opened = 0
    for p, face in nearest_frames(animator, chunk, start):
        if is_bilabial(p.phoneme):
            assert lip_gap(face.weights) < 0.01, f"{p.phoneme} at {p.start:.2f}: lips open"
            assert face["mouthPressLeft"] >= 0.45 and face["mouthClose"] >= face["jawOpen"] - 1e-3
            closed += 1
        elif p.phoneme in ("ɑː", "æ"):
            assert lip_gap(face.weights) > 0.3, f"{p.phoneme}: mouth should be open"
            opened += 1
    assert closed == 6 and opened == 2


def test_coarticulation_blends_neighbours():
    # the same /s/ between rounded vowels is rounder than between spread ones
    round_ = phoneme_track(speech([("_", 0.1), ("uː", 0.15), ("s", 0.06), ("uː", 0.15), ("_", 0.1)]), 0.0)
    spread = phoneme_track(speech([("_", 0.1), ("iː", 0.15), ("s", 0.06), ("iː", 0.15), ("_", 0.1)]), 0.0)
    t = 0.1 + 0.15 + 0.03
    assert round_.at(t)[0][INDEX["mouthPucker"]] > spread.at(t)[0][INDEX["mouthPucker"]] + 0.1
    # and the mouth moves continuously: no jump larger than a fraction of the opening per 5 ms
    jaw = round_.poses[:, INDEX["jawOpen"]]
    assert np.abs(np.diff(jaw)).max() < 0.08


def test_a_smiling_mouth_still_articulates():
    smile = np.zeros(52, np.float32)
    smile[[INDEX["mouthSmileLeft"], INDEX["mouthSmileRight"]]] = 0.8
    track = phoneme_track(speech([("_", 0.1), ("ɑː", 0.2), ("m", 0.1), ("uː", 0.2), ("_", 0.1)]), 0.0)
    aa = articulate(smile.copy(), *track.at(0.2), activity=1.0)
    m = articulate(smile.copy(), *track.at(0.35), activity=1.0)
    uu = articulate(smile.copy(), *track.at(0.5), activity=1.0)
    assert aa[INDEX["mouthSmileLeft"]] > 0.6 and lip_gap(aa) > 0.4
    assert lip_gap(m) < 0.01 and m[INDEX["mouthSmileLeft"]] > 0.6
    assert uu[INDEX["mouthPucker"]] > 0.4 and 0.2 < uu[INDEX["mouthSmileLeft"]] < aa[INDEX["mouthSmileLeft"]]


def test_stressed_syllables_give_the_beats():
    chunk = speech(PHONES, stressed=(2, 8, 12))
    beats = speech_beats(chunk)
    assert beats == pytest.approx([chunk.phonemes[i].start for i in (2, 8, 12)])


def bursts(times: list[tuple[float, float]], total: float) -> np.ndarray:
    """Voiced-like bursts (a 150 Hz buzz) over the given intervals, silence elsewhere."""
    t = np.arange(int(total * SR)) / SR
    sig = np.zeros_like(t)
    for a, b in times:
        sig[(t >= a) & (t < b)] = 1.0
    return (0.3 * sig * np.sign(np.sin(2 * np.pi * 150 * t))).astype(np.float32)


def test_without_phonemes_the_mouth_follows_the_audio_envelope():
    audio = bursts([(0.2, 0.4), (0.7, 0.75), (1.0, 1.3)], 1.6)
    chunk = SpeechChunk(audio=audio, sample_rate=SR)
    track = mouth_track(chunk, 0.0)
    gap = lambda t: lip_gap(track.at(t)[0])  # noqa: E731
    assert gap(0.1) == 0.0 and gap(0.55) < 0.05 and gap(1.45) < 0.05
    assert gap(0.3) > 0.3 and gap(1.15) > 0.3 and gap(0.725) > 0.1
    opening = opening_from_audio(audio, SR)
    # attack is fast: within 25 ms of the onset the mouth is more than half open
    assert opening[int(0.225 * RATE)] > 0.5
    # the follower's lag is taken back: the mouth opens with the sound, not after it, and
    # closes soon after it ends (a little early and a little late, centred on the sound)
    above = (opening[:int(0.6 * RATE)] > 0.5).nonzero()[0] / RATE
    assert -0.04 < above[0] - 0.2 < 0.01 and -0.01 < above[-1] - 0.4 < 0.04
    env = envelope(audio, SR)
    assert env.shape == opening.shape


def test_phoneme_free_chunks_schedule_in_the_animator():
    animator = Animator(get_persona("tutor"), fps=FPS, seed=0)
    chunk = SpeechChunk(audio=bursts([(0.2, 0.5)], 0.8), sample_rate=SR)
    animator.speak(chunk, 2.0)
    assert animator.frame(2.35).speaking and lip_gap(animator.frame(2.35).weights) > 0.3
    assert not animator.frame(2.9).speaking


# ---------------------------------------------------------------- real speech (Piper)

HELD_OUT = ("Let us look at the next problem together. Which number is bigger, seven or nine? "
            "Good thinking! Now multiply both sides by two and tell me what you get.")


@pytest.fixture(scope="module")
def piper_chunks():
    from agent.core.stages import Prosody
    from agent.tts.piper import PiperTTS

    return list(PiperTTS().synthesize(HELD_OUT, Prosody()))


def lag_ms(mouth: np.ndarray, env: np.ndarray, max_lag: int) -> float:
    """Lag of ``mouth`` behind ``env`` (ms; negative: the mouth leads) at the peak of their
    normalised cross-correlation, refined by a parabola through the peak."""
    a = (mouth - mouth.mean()) / mouth.std()
    b = (env - env.mean()) / env.std()
    lags = np.arange(-max_lag, max_lag + 1)
    xc = np.array([np.mean(a[max(0, k):len(a) + min(0, k)] * b[max(0, -k):len(b) + min(0, -k)])
                   for k in lags])
    i = int(np.argmax(xc))
    assert 0 < i < len(xc) - 1, "no correlation peak inside the search window"
    y0, y1, y2 = xc[i - 1:i + 2]
    return float((lags[i] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)) * 1000.0 / RATE)


def mouth_and_envelope(chunks: list[SpeechChunk]) -> tuple[np.ndarray, np.ndarray]:
    """The utterance scheduled chunk after chunk on the audio clock, as the session plays it;
    lip opening and audio envelope both sampled at RATE."""
    animator = Animator(get_persona("tutor"), fps=FPS, seed=0)
    t, envs = 0.5, []
    for c in chunks:
        animator.speak(c, t)
        envs.append(envelope(c.audio, c.sample_rate)[:int(round(c.duration * RATE))])
        t += c.duration
    env = np.concatenate(envs)
    mouth = np.array([lip_gap(animator.frame(0.5 + k / RATE).weights) for k in range(len(env))])
    return mouth, env


@pytest.mark.slow
def test_mouth_is_within_20_ms_of_real_synthesized_speech(piper_chunks):
    assert sum(len(c.phonemes) for c in piper_chunks) > 80
    mouth, env = mouth_and_envelope(piper_chunks)
    lag = lag_ms(mouth, env, max_lag=int(0.15 * RATE))
    assert abs(lag) <= 20.0, f"mouth lags the audio by {lag:.1f} ms"
    assert np.corrcoef(mouth, env)[0, 1] > 0.3


@pytest.mark.slow
def test_audio_driven_mouth_is_within_20_ms_of_real_speech(piper_chunks):
    no_timings = [replace(c, phonemes=()) for c in piper_chunks]
    mouth, env = mouth_and_envelope(no_timings)
    lag = lag_ms(mouth, env, max_lag=int(0.15 * RATE))
    assert abs(lag) <= 20.0, f"mouth lags the audio by {lag:.1f} ms"


@pytest.mark.slow
def test_every_real_bilabial_closes_the_lips_on_its_frame(piper_chunks):
    animator = Animator(get_persona("tutor"), fps=FPS, seed=0)
    animator.set_emotion(Emotion.from_label("joy"), 0.0)
    t, checked = 0.5, 0
    for c in piper_chunks:
        animator.speak(c, t)
        for p, face in nearest_frames(animator, c, t):
            assert viseme_of(p.phoneme) is not None or p.phoneme in ("h", "ʔ"), p.phoneme
            if is_bilabial(p.phoneme):
                assert lip_gap(face.weights) < 0.01, f"{p.phoneme} at {t + p.start:.3f}"
                checked += 1
        t += c.duration
    assert checked >= 6  # problem, bigger, by, multiply, both, me
