"""The Animator API the session, renderer and plugins use: emotions on the face, speech on
the audio clock, interrupt, listening and mirroring, determinism with a seed."""

import numpy as np
import pytest

from agent.core.face_state import INDEX, FaceState
from agent.core.speech import PhonemeTiming, SpeechChunk
from persona.config import get_persona
from persona.emotion import Emotion
from render.animator import Animator
from render.expression import onset_time
from render.lipsync import lip_gap

FPS = 30.0
SR = 16000


@pytest.fixture(scope="module")
def tutor():
    return get_persona("tutor")


def chunk(vowel_seconds: float = 1.0) -> SpeechChunk:
    """'ma' + a long open vowel + 'ba': closed, open, closed on known timestamps."""
    phones, t = [], 0.0
    for p, d in (("_", 0.1), ("m", 0.08), ("ɑː", vowel_seconds), ("b", 0.08), ("ɐ", 0.12), ("_", 0.1)):
        phones.append(PhonemeTiming(p, t, t + d, p == "ɑː"))
        t += d
    return SpeechChunk(audio=np.zeros(int(t * SR), np.float32), sample_rate=SR, text="ma...ba",
                       phonemes=tuple(phones))


def both(face: FaceState, base: str) -> float:
    return min(face[base + "Left"], face[base + "Right"])


@pytest.mark.parametrize("label, check", [
    ("joy", lambda f: both(f, "cheekSquint") > 0.4 and both(f, "mouthSmile") > 0.55),
    ("sadness", lambda f: f["browInnerUp"] > 0.45 and both(f, "mouthFrown") > 0.35),
    ("surprise", lambda f: f["browInnerUp"] > 0.5 and both(f, "browOuterUp") > 0.5 and f["jawOpen"] > 0.2),
    ("anger", lambda f: both(f, "browDown") > 0.55 and both(f, "mouthPress") > 0.35),
    ("fear", lambda f: both(f, "eyeWide") > 0.4 and both(f, "mouthStretch") > 0.35),
    ("disgust", lambda f: both(f, "noseSneer") > 0.45 and both(f, "mouthFrown") > 0.25),
])
def test_set_emotion_shows_the_prototype_on_the_rendered_face(tutor, label, check):
    animator = Animator(tutor, fps=FPS, seed=0)
    emotion = Emotion.from_label(label)
    animator.set_emotion(emotion, 1.0)
    held = [animator.frame(t) for t in (3.0, 4.0, 5.0)]
    assert all(check(f) for f in held), label


def test_emotion_changes_ease_in_faster_when_aroused(tutor):
    def time_to_smile(vad):
        animator = Animator(tutor, fps=120, seed=0)
        animator.set_emotion(Emotion.neutral(), 0.0)
        animator.set_emotion(Emotion.from_vad(vad), 2.0)
        target = both(animator.frame(5.0), "mouthSmile")
        for f in animator.frames(2.0, 5.0):
            if both(f, "mouthSmile") >= 0.8 * target:
                return f.t - 2.0
        raise AssertionError("never smiled")

    excited, content = time_to_smile((0.8, 0.7, 0.4)), time_to_smile((0.8, -0.2, 0.4))
    assert excited < content
    assert excited < onset_time(0.7) + 0.15 and content < onset_time(-0.2) + 0.15


def test_expression_description_adds_to_the_face(tutor):
    animator = Animator(tutor, fps=FPS, seed=0)
    animator.set_emotion(Emotion.neutral(), 0.0, description="a small, crooked smile, raised eyebrows")
    f = animator.frame(2.0)
    assert f["mouthSmileLeft"] > 0.25 and f["mouthSmileRight"] < 0.1
    assert both(f, "browOuterUp") > 0.5


def test_speech_is_scheduled_on_the_audio_clock(tutor):
    animator = Animator(tutor, fps=FPS, seed=0)
    c = chunk()
    animator.speak(c, 2.0)
    assert not animator.frame(1.9).speaking and animator.mode(1.9) == "idle"
    assert animator.frame(2.0 + 0.14).speaking and lip_gap(animator.frame(2.0 + 0.14).weights) < 0.01
    assert lip_gap(animator.frame(2.0 + 0.7).weights) > 0.4
    assert animator.mode(2.5) == "speaking"
    assert not animator.frame(2.0 + c.duration + 0.01).speaking


def test_interrupt_flushes_the_mouth_within_one_frame_and_returns_to_listening(tutor):
    animator = Animator(tutor, fps=FPS, seed=0)
    animator.set_emotion(Emotion.from_label("joy", 0.6), 0.0)
    animator.speak(chunk(), 1.0)
    animator.speak(chunk(), 1.0 + chunk().duration)  # a second sentence queued behind it
    rest = lip_gap(animator.frame(0.9).weights)
    t_int = 1.0 + 0.6 + 0.011  # mid-vowel, between frames
    before = animator.frame(np.floor(t_int * FPS) / FPS)
    assert before.speaking and lip_gap(before.weights) > 0.4
    animator.interrupt(t_int)
    after = animator.frame(np.ceil(t_int * FPS) / FPS)  # the next frame
    assert not after.speaking
    assert lip_gap(after.weights) <= rest + 0.02
    assert animator.mode(after.t) == "listening"
    # the queued sentence is gone too
    assert not any(f.speaking for f in animator.frames(after.t, after.t + 3.0))


def test_listening_mirrors_the_user_more_when_agreeable():
    def smile_while_listening(persona_name: str, listening: bool) -> float:
        animator = Animator(get_persona(persona_name), fps=FPS, seed=0)
        animator.set_emotion(Emotion.neutral(), 0.0)
        animator.set_listening(listening, 0.0)
        user = np.zeros(52, np.float32)
        user[[INDEX["mouthSmileLeft"], INDEX["mouthSmileRight"]]] = 0.9
        user[INDEX["jawOpen"]] = 0.7  # the user is talking: not mirrored
        animator.set_user_position((0.0, 0.0), 0.5)
        animator.set_user_affect(0.5, blendshapes=user)
        f = animator.frame(4.0)
        assert f["jawOpen"] < 0.1
        return both(f, "mouthSmile")

    agreeable, disagreeable = smile_while_listening("tutor", True), smile_while_listening("critic", True)
    assert agreeable > 0.2 and agreeable > disagreeable + 0.1
    assert smile_while_listening("tutor", False) < 0.05


def test_mirroring_from_the_users_affect_alone(tutor):
    animator = Animator(tutor, fps=FPS, seed=0)
    animator.set_emotion(Emotion.neutral(), 0.0)
    animator.set_listening(True, 0.0)
    animator.set_user_affect(0.5, affect_vad=(-0.63, -0.27, -0.33))  # the user looks sad
    assert animator.frame(4.0)["browInnerUp"] > 0.1


def test_backchannel_nods_answer_the_users_pauses(tutor):
    def nods(listening: bool, pauses: list[float]) -> list[float]:
        animator = Animator(tutor, fps=FPS, seed=7)
        animator.set_listening(listening, 0.0)
        for p in pauses:
            animator.user_paused(p)
        onsets = animator.nod_onsets()
        for t in onsets:  # the head does go down
            assert animator.frame(t + 0.18).head[0] < animator.frame(t).head[0] - 0.015
        return onsets

    pauses = [3.0, 4.0, 8.5, 14.0, 14.6, 21.0]
    found = nods(True, pauses)
    assert 3 <= len(found) < len(pauses)  # not at every pause: never two within the persona's gap
    assert all(0.0 < t - max(p for p in pauses if p < t) < 0.5 for t in found), found
    assert nods(True, []) == [] and nods(False, pauses) == []


def test_a_nod_brings_a_brief_backchannel_expression(tutor):
    animator = Animator(tutor, fps=FPS, seed=0)
    animator.set_emotion(Emotion.neutral(), 0.0)
    animator.set_listening(True, 0.0)
    before = both(animator.frame(2.0), "mouthSmile")
    assert animator.user_paused(2.0)
    assert both(animator.frame(2.0 + 0.12 + 0.36), "mouthSmile") > before + 0.05
    assert both(animator.frame(4.0), "mouthSmile") < before + 0.03  # and gone again


def test_mirroring_follows_the_users_own_face_half_a_second_later(tutor):
    animator = Animator(tutor, fps=FPS, seed=0)
    animator.set_emotion(Emotion.neutral(), 0.0)
    animator.set_listening(True, 0.0)
    user = np.zeros(52, np.float32)
    user[INDEX["browInnerUp"]] = 0.9
    animator.set_user_affect(2.0, blendshapes=user)
    animator.set_user_affect(2.2, affect_vad=(0.81, 0.51, 0.46))  # an estimate does not override the face
    assert animator.frame(2.4)["browInnerUp"] < 0.05  # not yet: mimicry follows
    assert animator.frame(3.2)["browInnerUp"] > 0.15
    assert both(animator.frame(3.2), "mouthSmile") < 0.05


def test_frames_are_a_pure_function_of_the_schedule_and_seed(tutor):
    def run(seed: int, fps: float) -> dict[float, FaceState]:
        animator = Animator(tutor, fps=fps, seed=seed)
        animator.set_emotion(Emotion.from_label("joy"), 0.5, "a big smile")
        animator.set_user_position((0.3, -0.1), 0.2)
        animator.set_user_affect(0.2, affect_vad=(0.5, 0.2, 0.1))
        animator.speak(chunk(), 2.0)
        animator.set_listening(True, 4.5)
        return {round(f.t, 6): f for f in animator.frames(0.0, 8.0)}

    a, b, fine = run(1, 30.0), run(1, 30.0), run(1, 60.0)
    for t, f in a.items():
        g, h = b[t], fine[t]
        assert np.array_equal(f.weights, g.weights) and f.head == g.head and f.gaze == g.gaze
        assert np.allclose(f.weights, h.weights, atol=1e-6) and np.allclose(f.head, h.head, atol=1e-9)
    other = run(2, 30.0)
    assert any(not np.array_equal(a[t].weights, other[t].weights) for t in a)


def test_frames_are_timestamped_at_fps(tutor):
    frames = Animator(tutor, fps=FPS, seed=0).frames(1.0, 2.0)
    assert len(frames) == 30 and frames[0].t == 1.0
    assert np.allclose(np.diff([f.t for f in frames]), 1 / FPS)
    f = frames[0]
    assert f.weights.dtype == np.float32 and f.weights.shape == (52,)
    assert f.weights.min() >= 0.0 and f.weights.max() <= 1.0


def test_bad_input_names_the_problem(tutor):
    with pytest.raises(ValueError, match="fps"):
        Animator(tutor, fps=0)
    animator = Animator(tutor)
    with pytest.raises(ValueError, match="52"):
        animator.set_user_affect(0.0, blendshapes=np.zeros(10))
    with pytest.raises(ValueError, match="finite"):
        animator.set_user_position((float("nan"), 0.0), 0.0)
