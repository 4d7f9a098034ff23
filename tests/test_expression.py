"""Emotion → action units → blendshapes, easing, micro-motion, and expression descriptions."""

import numpy as np
import pytest

from agent.core.face_state import BLENDSHAPES, INDEX
from persona.emotion import Emotion
from render.describe import describe
from render.expression import (
    AU_INDEX,
    AU_TO_BLENDSHAPES,
    AUS,
    LEFT,
    RIGHT,
    ExpressionTrack,
    MicroMotion,
    au_vector,
    blendshapes_from_aus,
    emotion_aus,
    offset_time,
    onset_time,
    prototype_weights,
)


def shapes(label: str, intensity: float = 1.0) -> dict[str, float]:
    w = blendshapes_from_aus(emotion_aus(Emotion.from_label(label, intensity)))
    return {n: float(w[INDEX[n]]) for n in BLENDSHAPES}


def both(w: dict[str, float], base: str) -> float:
    """The weaker side: an AU that is 'on' must be on for both sides of the face."""
    return min(w[base + "Left"], w[base + "Right"])


# label → (blendshapes that must be high, blendshapes that must stay low)
PROTOTYPES = {
    "joy": ({"cheekSquint": 0.45, "mouthSmile": 0.6}, ("mouthFrown", "browDown", "noseSneer")),
    "sadness": ({"browInnerUp": 0.5, "mouthFrown": 0.4}, ("mouthSmile", "cheekSquint", "eyeWide")),
    "surprise": ({"browInnerUp": 0.6, "browOuterUp": 0.6, "jawOpen": 0.25, "eyeWide": 0.25},
                 ("browDown", "mouthSmile", "mouthFrown")),
    "anger": ({"browDown": 0.6, "mouthPress": 0.4, "eyeSquint": 0.3},
              ("browInnerUp", "mouthSmile", "browOuterUp")),
    "fear": ({"browInnerUp": 0.5, "eyeWide": 0.5, "mouthStretch": 0.4, "browDown": 0.25},
             ("mouthSmile", "noseSneer")),
    "disgust": ({"noseSneer": 0.5, "mouthFrown": 0.3, "mouthUpperUp": 0.2},
                ("mouthSmile", "browOuterUp", "eyeWide")),
}


@pytest.mark.parametrize("label", sorted(PROTOTYPES))
def test_each_basic_emotion_shows_its_prototype_action_units(label):
    high, low = PROTOTYPES[label]
    w = shapes(label)
    for base, floor in high.items():
        value = w[base] if base in w else both(w, base)
        assert value >= floor, f"{label}: {base}={value:.2f} < {floor}"
    for base in low:
        value = w[base] if base in w else max(w[base + "Left"], w[base + "Right"])
        assert value < 0.1, f"{label}: {base}={value:.2f} should stay low"


def test_neutral_is_a_relaxed_face():
    assert max(shapes("neutral").values()) == 0.0


def test_weaker_emotion_is_the_same_face_at_lower_intensity():
    strong, weak = emotion_aus(Emotion.from_label("sadness")), emotion_aus(Emotion.from_label("sadness", 0.3))
    on = strong > 0.05
    assert np.all(weak[on] < strong[on]) and np.all(weak[on] > 0.1 * strong[on])
    assert prototype_weights(Emotion.from_label("sadness", 0.3).vad)["sadness"] > 0.9


def test_points_between_prototypes_blend_their_faces():
    joy, surprise = np.array((0.81, 0.51, 0.46)), np.array((0.40, 0.67, -0.13))
    w = prototype_weights(tuple((joy + surprise) / 2))
    assert w["joy"] > 0.2 and w["surprise"] > 0.2
    aus = emotion_aus(Emotion.from_vad((joy + surprise) / 2))
    assert aus[LEFT, AU_INDEX[12]] > 0.2 and aus[LEFT, AU_INDEX[2]] > 0.2


def test_left_action_units_move_only_the_left_side():
    w = blendshapes_from_aus(au_vector({12: 1.0, 2: 1.0}, side="left"))
    assert w[INDEX["mouthSmileLeft"]] == 1.0 and w[INDEX["mouthSmileRight"]] == 0.0
    assert w[INDEX["browOuterUpLeft"]] == 1.0 and w[INDEX["browOuterUpRight"]] == 0.0
    assert AU_TO_BLENDSHAPES.shape == (52, 2 * len(AUS))


def test_onsets_are_faster_when_aroused_and_offsets_slower_than_onsets():
    assert onset_time(0.8) < onset_time(0.0) < onset_time(-0.6)
    for a in (-0.6, 0.0, 0.8):
        assert offset_time(a) > onset_time(a)


def test_expression_eases_from_where_the_face_is():
    start = np.zeros((2, len(AUS)), np.float32)
    track = ExpressionTrack(start)
    joy = emotion_aus(Emotion.from_label("joy"))
    track.set(1.0, joy, arousal=0.5)
    assert np.allclose(track.value(1.0), start)
    assert np.allclose(track.value(1.0 + onset_time(0.5)), joy)
    mid = track.value(1.0 + onset_time(0.5) / 2)
    assert 0.2 < mid[LEFT, AU_INDEX[12]] / joy[LEFT, AU_INDEX[12]] < 0.8
    # a change mid-way starts from the current face, with no jump
    track.set(1.1, np.zeros_like(joy), arousal=0.5)
    assert np.allclose(track.value(1.1), track.value(1.1 - 1e-9), atol=1e-3)
    assert track.value(1.1)[LEFT, AU_INDEX[12]] > 0.0
    assert np.allclose(track.value(1.1 + offset_time(0.5)), 0.0)


def test_a_held_expression_keeps_moving_a_little_and_deterministically():
    joy = emotion_aus(Emotion.from_label("joy"))
    micro, again = MicroMotion(seed=3), MicroMotion(seed=3)
    series = np.array([micro(t, joy)[LEFT, AU_INDEX[12]] for t in np.arange(0, 10, 0.1)])
    assert 0.005 < series.std() < 0.06
    assert np.array_equal(micro(4.2, joy), again(4.2, joy))
    assert not np.array_equal(micro(4.2, joy), MicroMotion(seed=4)(4.2, joy))


# ---------------------------------------------------------------- descriptions


def au(desc, number, side=LEFT) -> float:
    return float(describe(desc).aus[side, AU_INDEX[number]])


def test_a_small_crooked_smile_is_a_weaker_one_sided_smile():
    assert au("a small, crooked smile", 12, LEFT) > 0.2
    assert au("a small, crooked smile", 12, RIGHT) == 0.0
    assert au("a small, crooked smile", 12) < au("a big smile", 12)
    assert au("a slight smile", 12) < au("a small smile", 12) < au("a smile", 12)


@pytest.mark.parametrize("text, number", [
    ("raised eyebrows", 1), ("raised eyebrows", 2), ("furrowed brow", 4), ("wrinkles her nose", 9),
    ("pressed lips", 24), ("wide-eyed", 5), ("mouth agape", 26), ("smiling broadly", 12),
    ("a pout", 17), ("a worried look", 1),
])
def test_phrases_map_to_their_action_units_on_both_sides(text, number):
    assert au(text, number, LEFT) > 0.3 and au(text, number, RIGHT) > 0.3


def test_side_words_and_one_raised_eyebrow():
    assert au("raises an eyebrow", 2, LEFT) > 0.5 and au("raises an eyebrow", 2, RIGHT) == 0.0
    assert au("a faint smile on the right", 12, RIGHT) > 0.0
    assert au("a faint smile on the right", 12, LEFT) == 0.0


def test_negated_and_unknown_descriptions_add_nothing():
    assert not describe("without a smile").aus.any()
    assert not describe("the weather is nice").aus.any()
    assert describe("").features == ()


def test_several_features_keep_their_own_modifiers():
    d = describe("a big smile, slightly raised eyebrows")
    assert d.features == ("smile", "brows raised")
    assert d.aus[LEFT, AU_INDEX[12]] > 0.9 and d.aus[LEFT, AU_INDEX[2]] < 0.5
