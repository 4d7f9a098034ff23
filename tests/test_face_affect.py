"""Facial affect on real photographs: smile vs neutral, AUs from blendshapes, confidence that
falls when the face is blurred, dark, occluded, small or turned, smoothing and words.

What the photographs can and cannot show: Eileen Collins smiles broadly; Grace Hopper's portrait
is near-neutral. Warping the astronaut's mouth corners down with cv2.remap lowers the smile
blendshape (AU12) but the classifier still sees a happy face (eyes, cheeks and teeth still
smile), so that image tests AU12, not the label. No photograph of a turned head ships in the
packages; pose is tested by rotating a real observation's head matrix.
"""

from __future__ import annotations

import re
from dataclasses import replace

import face_fixtures as F
import numpy as np
import pytest

from agent.core.face_state import weights_from
from perception.face import FaceLandmarker
from perception.face_affect import (
    FER_CLASSES,
    LABELS,
    AffectSmoother,
    FaceAffect,
    FaceQuality,
    FaceReading,
    action_units,
    assess,
    au_probabilities,
    describe,
    face_crop,
    fer_model_path,
    vad_of,
)

# ------------------------------------------------------------------ fast: the arithmetic


def test_fer_class_order_matches_the_package():
    """fer/classes.py is not importable without its dependencies; read its label table."""
    src = (fer_model_path().parent.parent / "fer.py").read_text()
    table = re.search(r"def _get_labels\(\):\s*return \{(.*?)\}", src, re.S).group(1)
    order = [name for _, name in sorted((int(i), n) for i, n in re.findall(r'(\d+):\s*"(\w+)"', table))]
    assert tuple(order) == FER_CLASSES
    assert [LABELS[i] for i in range(7)] == ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]


def test_action_units_read_the_blendshapes():
    aus = action_units(weights_from({"mouthSmileLeft": 0.8, "mouthSmileRight": 0.6, "browInnerUp": 0.5,
                                     "jawOpen": 0.2, "mouthPressLeft": 0.4, "mouthPressRight": 0.4}))
    assert aus["AU12"] == pytest.approx(0.7) and aus["AU1"] == pytest.approx(0.5)
    assert aus["AU26"] == pytest.approx(0.2) and aus["AU25"] == pytest.approx(0.6)
    assert aus["AU24"] == pytest.approx(0.4) and aus["AU23"] == pytest.approx(0.4)
    assert aus["AU4"] == 0.0


def test_au_evidence_names_the_emfacs_expressions():
    def top(**named):
        return LABELS[int(np.argmax(au_probabilities(action_units(weights_from(named)))))]

    assert top() == "neutral"
    assert top(mouthSmileLeft=0.8, mouthSmileRight=0.8, cheekSquintLeft=0.5, cheekSquintRight=0.5) == "joy"
    assert top(mouthFrownLeft=0.7, mouthFrownRight=0.7, browInnerUp=0.6, browDownLeft=0.3,
               browDownRight=0.3) == "sadness"
    assert top(jawOpen=0.8, eyeWideLeft=0.7, eyeWideRight=0.7, browInnerUp=0.7, browOuterUpLeft=0.7,
               browOuterUpRight=0.7) == "surprise"
    assert top(noseSneerLeft=0.8, noseSneerRight=0.8, mouthUpperUpLeft=0.5, mouthUpperUpRight=0.5) == "disgust"
    assert top(browDownLeft=0.9, browDownRight=0.9, mouthPressLeft=0.6, mouthPressRight=0.6) == "anger"


def test_a_broader_smile_reads_more_positive_even_when_the_classifier_is_sure():
    """The class mixture says which expression, the blendshapes how much: a classifier certain
    of joy on both faces, and the broader smile carrying a little more squint (anger evidence),
    must still rank the broader smile higher (the cause of misranked smile/neutral pairs)."""
    sure = np.eye(7)[LABELS.index("joy")] * 0.97 + 0.005

    def valence(smile: float, squint: float) -> float:
        aus = action_units(weights_from({"mouthSmileLeft": smile, "mouthSmileRight": smile,
                                         "eyeSquintLeft": squint, "eyeSquintRight": squint}))
        probs = 0.6 * sure + 0.4 * au_probabilities(aus)
        return vad_of(probs, aus)[0]

    assert valence(0.9, 0.3) > valence(0.5, 0.0) > valence(0.1, 0.0) + 0.2
    # a classifier that misreads a closed smile as anger cannot outweigh the smile itself
    angry = np.eye(7)[LABELS.index("anger")] * 0.5 + np.eye(7)[LABELS.index("neutral")] * 0.5
    aus = action_units(weights_from({"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6}))
    neutral_aus = action_units(weights_from({}))
    smiling = vad_of(0.6 * angry + 0.4 * au_probabilities(aus), aus)[0]
    plain = vad_of(0.6 * np.eye(7)[LABELS.index("neutral")] + 0.4 * au_probabilities(neutral_aus), neutral_aus)[0]
    assert smiling > plain


def _reading(t: float, label: str, conf: float, smile: float = 0.0) -> FaceReading:
    p = np.full(7, 0.02)
    p[LABELS.index(label)] = 0.88
    aus = action_units(weights_from({"mouthSmileLeft": smile, "mouthSmileRight": smile}))
    q = FaceQuality(1, 1, 1, 1, 0)
    return FaceReading(t, aus, p, p, q, conf)


def test_one_odd_frame_does_not_flip_the_smoothed_label():
    s = AffectSmoother(tau=0.6)
    for i in range(10):
        s.update(_reading(i / 10, "joy", 0.8, smile=0.8))
    s.update(_reading(1.0, "anger", 0.8))
    assert s.estimate(1.0).label == "joy"
    for i in range(11, 31):
        s.update(_reading(i / 10, "anger", 0.8))
    assert s.estimate(3.0).label == "anger"


def test_low_confidence_frames_move_the_estimate_less():
    a, b = AffectSmoother(), AffectSmoother()
    for s in (a, b):
        s.update(_reading(0.0, "neutral", 0.8))
    a.update(_reading(0.3, "joy", 0.8))
    b.update(_reading(0.3, "joy", 0.08))
    assert a.probs[LABELS.index("joy")] > 2 * b.probs[LABELS.index("joy")]


def test_confidence_decays_without_a_face_and_a_new_face_starts_afresh():
    s = AffectSmoother(tau=0.6, reset_after=1.0)
    s.update(_reading(0.0, "joy", 0.8))
    s.decay(0.6)
    assert s.estimate(0.6).confidence < 0.35
    s.update(_reading(1.5, "sadness", 0.7))
    assert s.estimate(1.5).label == "sadness"


def test_no_evidence_is_zero_confidence_not_neutral_evidence():
    est = AffectSmoother().estimate(0.0)
    assert est.confidence == 0.0 and est.label == "" and est.source == "face"


def test_cues_in_words():
    aus = action_units(weights_from({"mouthSmileLeft": 0.4, "mouthSmileRight": 0.4}))
    assert describe(aus, "joy") == "the user smiles slightly"
    aus = action_units(weights_from({"browDownLeft": 0.8, "browDownRight": 0.8}))
    assert describe(aus, "anger", looking=False) == "the user frowns, looks away, looks angry"
    assert describe(action_units(np.zeros(52, np.float32)), "neutral") == "the user looks neutral"


# ------------------------------------------------------------------ slow: real photographs


@pytest.fixture(scope="module")
def models():
    lm = FaceLandmarker(video=False)
    yield lm, FaceAffect()
    lm.close()


def read(models, image):
    lm, fa = models
    faces = lm.detect(image)
    assert faces, "no face found"
    return fa.read(image, faces[0], 0.0)


@pytest.mark.slow
def test_the_smiling_astronaut_reads_as_joy(models):
    r = read(models, F.astronaut())
    assert r.label == "joy" and r.classifier[LABELS.index("joy")] > 0.9
    assert r.aus["AU12"] > 0.6 and r.vad[0] > 0.5
    assert r.confidence > 0.6
    assert describe(r.aus, r.label) == "the user smiles broadly"


@pytest.mark.slow
def test_grace_hopper_reads_as_neutral_and_far_from_the_smile(models):
    smile, calm = read(models, F.astronaut()), read(models, F.grace_hopper())
    assert calm.label == "neutral" and calm.aus["AU12"] < 0.1
    assert abs(calm.vad[0]) < 0.25 and smile.vad[0] - calm.vad[0] > 0.6
    assert calm.confidence > 0.3


@pytest.mark.slow
def test_mirror_images_read_the_same(models):
    a, b = read(models, F.astronaut()), read(models, np.ascontiguousarray(F.astronaut()[:, ::-1]))
    assert a.label == b.label and abs(a.aus["AU12"] - b.aus["AU12"]) < 0.1


@pytest.mark.slow
def test_lowering_the_mouth_corners_lowers_au12(models):
    lm, _ = models
    face = lm.detect(F.astronaut())[0]
    corners = [tuple(face.point(61)), tuple(face.point(291))]
    aus = [read(models, F.warp_mouth_corners(F.astronaut(), corners, dy, 7)).aus["AU12"] for dy in (0, 5, 10)]
    assert aus[0] > aus[1] > aus[2] and aus[2] < 0.35


@pytest.mark.slow
def test_confidence_falls_under_blur(models):
    base = read(models, F.astronaut()).confidence
    mild = read(models, F.blur(F.astronaut(), 1.0)).confidence
    strong = read(models, F.blur(F.astronaut(), 2.0)).confidence
    assert base > mild > strong and strong < 0.3 * base


@pytest.mark.slow
def test_confidence_falls_in_the_dark(models):
    base = read(models, F.astronaut()).confidence
    dim = read(models, F.darken(F.astronaut(), 0.25))
    dark = read(models, F.darken(F.astronaut(), 0.12))
    assert base > dim.confidence > dark.confidence and dark.confidence < 0.3 * base
    assert dim.quality.sharpness > 0.9  # darkness is not mistaken for blur


@pytest.mark.slow
def test_confidence_falls_when_the_mouth_is_covered(models):
    for image, box in ((F.astronaut(), (190, 130, 262, 178)), (F.grace_hopper(), (200, 250, 330, 330))):
        clear, covered = read(models, image), read(models, F.occlude(image, box))
        assert covered.quality.occlusion > 0.35 and covered.confidence < 0.3 * clear.confidence


@pytest.mark.slow
def test_confidence_falls_for_a_small_face(models):
    tile = F.face_tile(F.astronaut(), F.ASTRONAUT_FACE, 0.4)
    near = read(models, F.scene([(tile, 320, 240, 300)]))
    far = read(models, F.scene([(tile, 320, 240, 150)]))  # ~86 px, near the detector's limit
    assert far.quality.size < near.quality.size
    assert far.confidence < near.confidence


@pytest.mark.slow
def test_confidence_falls_when_the_head_turns_away(models):
    """The same real face, its head matrix rotated about the vertical axis."""
    lm, fa = models
    image = F.astronaut()
    face = lm.detect(image)[0]

    def turned(deg: float):
        a = np.radians(deg)
        ry = np.array([[np.cos(a), 0, np.sin(a), 0], [0, 1, 0, 0], [-np.sin(a), 0, np.cos(a), 0], [0, 0, 0, 1]],
                      dtype=np.float32)
        return replace(face, matrix=ry @ face.matrix)

    confs = [fa.read(image, turned(d), 0.0).confidence for d in (0, 30, 45, 70)]
    assert confs[0] > confs[1] > confs[2] > confs[3] and confs[3] == 0.0
    assert np.degrees(turned(30).head[1]) == pytest.approx(30, abs=3)


@pytest.mark.slow
def test_the_crop_is_the_face(models):
    lm, _ = models
    face = lm.detect(F.astronaut())[0]
    crop = face_crop(F.astronaut(), face, 64)
    assert crop.shape == (64, 64) and crop.dtype == np.uint8
    q = assess(F.astronaut(), face, crop)
    assert q.size == 1.0 and q.sharpness > 0.9 and q.light == 1.0 and q.occlusion < 0.15
