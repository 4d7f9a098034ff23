"""Choosing the user among several faces (after UGotMe's active-face extraction): the larger,
the more frontal, and, while the microphone hears speech, the one whose mouth moves."""

from __future__ import annotations

from dataclasses import replace

import face_fixtures as F
import numpy as np
import pytest

from perception.active_face import ActiveFaceSelector, iou, mouth_opening
from perception.face import FaceLandmarker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiles():
    return (F.face_tile(F.astronaut(), F.ASTRONAUT_FACE, 0.4),
            F.face_tile(F.grace_hopper(), F.HOPPER_FACE, 0.4))


@pytest.fixture(scope="module")
def lm():
    marker = FaceLandmarker(video=False)
    yield marker
    marker.close()


def _by_x(faces):
    return sorted(faces, key=lambda f: f.box[0])


def test_the_larger_face_is_the_user_and_the_other_is_counted(lm, tiles):
    tA, tG = tiles
    for big_left in (True, False):  # whichever side, whichever person
        scene = (F.scene([(tA, 170, 240, 300), (tG, 480, 240, 190)]) if big_left
                 else F.scene([(tG, 170, 240, 300), (tA, 480, 240, 190)]))
        faces = lm.detect(scene)
        choice = ActiveFaceSelector().select(faces, 0.0)
        assert choice.others == 1
        assert faces[choice.index].height_px == max(f.height_px for f in faces)


def test_the_frontal_face_wins_between_equal_sizes(lm, tiles):
    tA, _ = tiles
    faces = _by_x(lm.detect(F.scene([(tA, 160, 240, 240), (tA, 480, 240, 240)])))
    assert len(faces) == 2
    a = np.radians(50)
    turn = np.array([[np.cos(a), 0, np.sin(a), 0], [0, 1, 0, 0], [-np.sin(a), 0, np.cos(a), 0], [0, 0, 0, 1]],
                    dtype=np.float32)
    left_turned = [replace(faces[0], matrix=turn @ faces[0].matrix), faces[1]]
    assert ActiveFaceSelector().select(left_turned, 0.0).index == 1
    right_turned = [faces[0], replace(faces[1], matrix=turn @ faces[1].matrix)]
    assert ActiveFaceSelector().select(right_turned, 0.0).index == 0


def _talking_clip(lm, tiles, n=16):
    """Astronaut large and still on the left; Grace smaller on the right, her mouth opening and
    closing every other frame."""
    tA, tG = tiles
    base = F.scene([(tA, 170, 240, 300), (tG, 480, 240, 190)])
    grace = _by_x(lm.detect(base))[1]
    return [F.draw_open_mouth(base, grace, 0.45 if i % 2 else 0.0) for i in range(n)]


def test_while_speech_is_heard_the_moving_mouth_wins_over_the_larger_face(lm, tiles):
    frames = _talking_clip(lm, tiles)
    detected = [lm.detect(f) for f in frames]
    grace_mouths = [mouth_opening(_by_x(d)[1]) for d in detected]
    assert max(grace_mouths) - min(grace_mouths) > 0.02  # the drawn mouth really moves the landmarks

    quiet, talking = ActiveFaceSelector(), ActiveFaceSelector()
    for i, faces in enumerate(detected):
        t = i / 15
        q = quiet.select(faces, t, speech_active=False)
        s = talking.select(faces, t, speech_active=True)
    assert detected[-1][q.index] is _by_x(detected[-1])[0]  # silence: the larger face
    assert detected[-1][s.index] is _by_x(detected[-1])[1]  # speech: the one talking


def test_the_choice_does_not_flicker_between_equal_faces(lm, tiles):
    tA, _ = tiles
    sel = ActiveFaceSelector()
    chosen = set()
    for i in range(6):
        jitter = (i % 3) - 1
        faces = lm.detect(F.scene([(tA, 160 + jitter, 240, 240), (tA, 480 - jitter, 240, 240 + 2 * jitter)]))
        c = sel.select(faces, i / 15)
        chosen.add(c.track)
    assert len(chosen) == 1


def test_tracks_follow_a_moving_face(lm, tiles):
    tA, _ = tiles
    sel = ActiveFaceSelector()
    ids = []
    for i in range(5):
        faces = lm.detect(F.scene([(tA, 200 + 10 * i, 240, 260)]))
        ids.append(sel.select(faces, i / 15).track)
    assert len(set(ids)) == 1
    assert sel.select([], 1.0).index is None


def test_iou():
    assert iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1.0
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    assert iou((0, 0, 2, 1), (1, 0, 3, 1)) == pytest.approx(1 / 3)
