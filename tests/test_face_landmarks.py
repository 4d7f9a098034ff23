"""MediaPipe FaceLandmarker on real photographs: detection, the 478/52 outputs, the sides of the
blendshapes, head-pose signs, several faces, and where detection stops."""

from __future__ import annotations

import math

import face_fixtures as F
import numpy as np
import pytest

from perception.attention import face_position, looking_at_screen
from perception.face import FaceLandmarker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lm():
    marker = FaceLandmarker(video=False)
    yield marker
    marker.close()


@pytest.fixture(scope="module")
def astro(lm):
    return lm.detect(F.astronaut())[0]


def test_one_face_with_every_output(lm, astro):
    assert astro.landmarks.shape == (478, 3) and astro.blendshapes.shape == (52,)
    assert astro.matrix.shape == (4, 4)
    x0, y0, x1, y1 = astro.box_px  # the face, not the suit or the flag
    assert 170 < x0 < 195 and 255 < x1 < 285 and 60 < y0 < 85 and 165 < y1 < 190
    assert len(lm.detect(F.grace_hopper())) == 1


def test_no_face_in_a_face_free_photograph(lm):
    import skimage.data

    assert lm.detect(skimage.data.coffee()) == []
    assert lm.detect(F.canvas()) == []


def test_blendshape_sides_are_the_subjects_own(lm, astro):
    """Covering the eye on the image's left (her right eye) raises the *Right* blink/squint."""
    eye = np.array([astro.point(i) for i in (33, 133, 159, 145, 160, 144, 158, 153)])
    (x0, y0), (x1, y1) = eye.min(0).astype(int) - 3, eye.max(0).astype(int) + 3
    img = F.astronaut().copy()
    img[y0:y1, x0:x1] = img[int(astro.point(50)[1]), int(astro.point(50)[0])]
    covered = lm.detect(img)[0]
    rise_right = covered.weight("eyeBlinkRight") + covered.weight("eyeSquintRight") - (
        astro.weight("eyeBlinkRight") + astro.weight("eyeSquintRight"))
    rise_left = covered.weight("eyeBlinkLeft") + covered.weight("eyeSquintLeft") - (
        astro.weight("eyeBlinkLeft") + astro.weight("eyeSquintLeft"))
    assert rise_right > 0.3 and rise_right > 3 * rise_left


def test_roll_follows_the_viewer_convention(lm, astro):
    """FaceState: roll > 0 is clockwise as the viewer sees it."""
    base = math.degrees(astro.head[2])
    ccw = math.degrees(lm.detect(F.rotate(F.astronaut(), 15))[0].head[2])
    cw = math.degrees(lm.detect(F.rotate(F.astronaut(), -15))[0].head[2])
    assert ccw < base - 10 and cw > base + 10


def test_flipping_the_image_flips_yaw_and_roll_and_swaps_sides(lm):
    g = lm.detect(F.grace_hopper())[0]
    gf = lm.detect(np.ascontiguousarray(F.grace_hopper()[:, ::-1]))[0]
    assert np.sign(g.head[1]) == -np.sign(gf.head[1]) and np.sign(g.head[2]) == -np.sign(gf.head[2])
    x, _ = face_position(g)
    xf, _ = face_position(gf)
    assert x == pytest.approx(-xf, abs=0.03)


def test_a_frontal_portrait_looks_at_the_screen(astro, lm):
    assert looking_at_screen(astro) and looking_at_screen(lm.detect(F.grace_hopper())[0])


def test_two_people_side_by_side_are_both_found(lm):
    tA = F.face_tile(F.astronaut(), F.ASTRONAUT_FACE, 0.4)
    tG = F.face_tile(F.grace_hopper(), F.HOPPER_FACE, 0.4)
    faces = lm.detect(F.scene([(tA, 170, 240, 300), (tG, 480, 240, 190)]))
    assert len(faces) == 2
    left, right = sorted(faces, key=lambda f: f.box[0])
    assert left.height_px > 1.4 * right.height_px
    assert face_position(left)[0] < -0.2 and face_position(right)[0] > 0.3


def test_faces_below_about_85_px_in_a_640x480_frame_are_not_found(lm):
    """BlazeFace short-range inside face_landmarker.task: people far from the camera are missed."""
    tile = F.face_tile(F.astronaut(), F.ASTRONAUT_FACE, 0.4)
    assert lm.detect(F.scene([(tile, 320, 240, 170)]))  # ~98 px face
    assert not lm.detect(F.scene([(tile, 320, 240, 110)]))  # ~63 px face


def test_video_mode_tracks_with_increasing_timestamps():
    marker = FaceLandmarker(video=True)
    try:
        img = F.astronaut()
        got = [len(marker.detect(np.roll(img, 2 * i, axis=1), t=0.0)) for i in range(5)]  # same t: bumped
        assert got == [1] * 5
    finally:
        marker.close()
