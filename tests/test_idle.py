"""Alive when not speaking: blink statistics, saccades and gaze toward the user, head motion
with speech rhythm, and the time primitives (deterministic, independent of query pattern)."""

import math

import numpy as np
import pytest

from agent.core.speech import PhonemeTiming, SpeechChunk
from persona.config import get_persona
from persona.emotion import Emotion
from render.animator import CAMERA_HALF_FOV, Animator
from render.idle import BLINK_SIGMA, Blinks, Gaze, Lag, SmoothNoise, blink_rate

FPS = 30.0
FIVE_MINUTES = 300.0


def blinks_per_minute(animator: Animator, seconds: float = FIVE_MINUTES) -> float:
    """Blinks seen in rendered frames: rising edges of the lids past half closed."""
    closed = np.array([f["eyeBlinkLeft"] > 0.5 for f in animator.frames(0.0, seconds)])
    onsets = int(np.count_nonzero(closed[1:] & ~closed[:-1]))
    return onsets / (seconds / 60.0)


@pytest.fixture(scope="module")
def tutor():
    return get_persona("tutor")


def test_blink_rate_over_five_minutes_is_human_at_rest_and_higher_in_conversation(tutor):
    rest = blinks_per_minute(Animator(tutor, fps=FPS, seed=1))
    talking = Animator(tutor, fps=FPS, seed=1)
    talking.set_listening(True, 0.0)
    talking.set_user_position((0.1, 0.0), 0.0)
    conversation = blinks_per_minute(talking)
    # Bentivoglio et al. (1997): ~17/min at rest, ~26/min in conversation;
    # Doughty (2001): conversation 95% range 10.5–32.5/min
    assert 12.0 <= rest <= 22.0, rest
    assert 10.5 <= conversation <= 32.5, conversation
    assert conversation > rest + 4.0


def test_arousal_raises_the_blink_rate(tutor):
    calm = Animator(tutor, fps=FPS, seed=2)
    calm.set_emotion(Emotion.from_vad((0.3, -0.6, 0.1)), 0.0)
    aroused = Animator(tutor, fps=FPS, seed=2)
    aroused.set_emotion(Emotion.from_label("fear"), 0.0)
    assert blinks_per_minute(aroused, 120) > blinks_per_minute(calm, 120) + 3.0
    assert blink_rate(True, 0.8) > blink_rate(True, 0.0) > blink_rate(False, 0.0)


def test_blink_intervals_are_log_normal_with_the_asked_mean():
    rate = 20.0
    blinks = Blinks(seed=5, rate=lambda t: rate)
    blinks.stream.upto(3000.0)
    intervals = np.diff(blinks.stream.times)
    assert abs(intervals.mean() - 60.0 / rate) < 0.05 * 60.0 / rate
    logs = np.log(intervals)
    skew = lambda x: float(np.mean(((x - x.mean()) / x.std()) ** 3))  # noqa: E731
    assert abs(logs.std() - BLINK_SIGMA) < 0.05
    assert abs(skew(logs)) < 0.3 and skew(intervals) > 1.0  # symmetric in log, skewed in time


def test_event_streams_do_not_depend_on_how_often_they_are_asked():
    a, b = Blinks(seed=9, rate=lambda t: 17.0), Blinks(seed=9, rate=lambda t: 17.0)
    for t in np.arange(0, 60, 1 / 60):
        a.closure(t)
    b.closure(60.0)
    n = len(b.stream.times)
    assert a.stream.times[:n] == b.stream.times[:n]
    assert Blinks(seed=10, rate=lambda t: 17.0).stream.times != a.stream.times[:1]


def mean_look(animator: Animator, t0: float, t1: float) -> tuple[float, float]:
    """Where the face looks on average: eyes in the head plus the head's turn."""
    frames = animator.frames(t0, t1)
    h = np.mean([f.gaze[0] + f.head[1] for f in frames])
    v = np.mean([f.gaze[1] for f in frames])
    return float(h), float(v)


def test_gaze_turns_toward_the_users_face(tutor):
    animator = Animator(tutor, fps=FPS, seed=3)
    animator.set_listening(True, 0.0)
    h0, _ = mean_look(animator, 0.0, 10.0)
    # x > 0: right of centre in the camera image, the user's own left, the viewer's left
    animator.set_user_position((0.8, 0.0), 10.0)
    h_left, _ = mean_look(animator, 11.0, 21.0)
    assert animator.frame(21.0).head[1] < -0.05  # the head shares the turn
    animator.set_user_position((-0.6, 0.5), 21.0)
    h_right, v_up = mean_look(animator, 22.0, 32.0)
    expected = -math.atan(0.8 * math.tan(CAMERA_HALF_FOV[0]))
    assert abs(h0) < 0.04
    assert abs(h_left - expected) < 0.05 and h_right > 0.2 and v_up > 0.1
    # h > 0 looks toward the viewer's right: the face's left eye turns out, the right eye in
    right = Animator(tutor, fps=FPS, seed=3)
    right.set_user_position((-0.9, 0.0), 0.0)
    f = right.frame(2.0)
    assert f.gaze[0] > 0.2
    assert f["eyeLookOutLeft"] > 0.2 and f["eyeLookInRight"] > 0.2 and f["eyeLookInLeft"] == 0.0


def test_saccades_are_fast_jumps_a_few_times_a_second_and_glances_away_follow_the_turn():
    def fixations(mode: str) -> tuple[float, float]:
        gaze = Gaze(seed=4, mode=lambda t: mode)
        times = np.arange(0, 300, 1 / 120)
        off = np.array([gaze.offset(t) for t in times])
        moving = np.linalg.norm(np.diff(off, axis=0), axis=1) > 1e-4
        starts = int(np.count_nonzero(moving[1:] & ~moving[:-1]))
        away = float(np.mean(np.linalg.norm(off, axis=1) > 0.08))
        # every movement is over within a saccade's 45 ms (at most 7 samples at 120 Hz)
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], moving, [0]]))))[::2]
        assert runs.max() <= 7
        return starts / 5.0, away

    per_min_speaking, away_speaking = fixations("speaking")
    per_min_listening, away_listening = fixations("listening")
    assert 20 <= per_min_listening < per_min_speaking <= 90
    assert away_speaking > away_listening + 0.1


def stressed_chunk() -> tuple[SpeechChunk, list[float]]:
    """Ten syllables, every other one stressed, 0.25 s each."""
    phones, beats, t = [], [], 0.2
    phones.append(PhonemeTiming("_", 0.0, 0.2))
    for k in range(10):
        phones.append(PhonemeTiming("d", t, t + 0.07))
        phones.append(PhonemeTiming("ɑː", t + 0.07, t + 0.25, stress=k % 2 == 0))
        if k % 2 == 0:
            beats.append(t + 0.07)
        t += 0.25
    phones.append(PhonemeTiming("_", t, t + 0.3))
    audio = np.zeros(int((t + 0.3) * 16000), np.float32)
    return SpeechChunk(audio=audio, sample_rate=16000, phonemes=tuple(phones)), beats


def test_the_head_nods_on_stressed_syllables(tutor):
    chunk, beats = stressed_chunk()
    animator = Animator(tutor, fps=FPS, seed=6)
    animator.speak(chunk, 1.0)
    dips = [animator.frame(1.0 + b + 0.15).head[0] - animator.frame(1.0 + b).head[0] for b in beats]
    assert np.mean(dips) < -0.012 and max(dips) < 0.0
    unstressed = Animator(tutor, fps=FPS, seed=6)
    flat = SpeechChunk(audio=chunk.audio, sample_rate=16000,
                       phonemes=tuple(PhonemeTiming(p.phoneme, p.start, p.end) for p in chunk.phonemes))
    unstressed.speak(flat, 1.0)
    calm = [unstressed.frame(1.0 + b + 0.15).head[0] - unstressed.frame(1.0 + b).head[0] for b in beats]
    assert abs(np.mean(calm)) < 0.006


def test_smooth_noise_is_smooth_unit_variance_and_seeded():
    noise = SmoothNoise(4, seed=[1, 2])
    x = np.array([noise(t) for t in np.arange(0, 600, 0.1)])
    assert np.allclose(x.std(axis=0), 1.0, atol=0.15)
    lag1 = [np.corrcoef(x[:-1, c], x[1:, c])[0, 1] for c in range(4)]  # 0.1 s apart
    assert min(lag1) > 0.9
    assert np.array_equal(noise(3.3), SmoothNoise(4, seed=[1, 2])(3.3))


def test_lag_is_exact_at_any_time():
    lag = Lag(np.zeros(1), tau=0.5)
    lag.set(1.0, np.ones(1))
    assert lag.value(0.5)[0] == 0.0
    assert lag.value(1.5)[0] == pytest.approx(1 - math.exp(-1.0))
    lag.set(2.0, np.zeros(1))
    assert lag.value(2.0)[0] == pytest.approx(1 - math.exp(-2.0))
