"""The photo avatar on real portraits (scikit-image's astronaut, matplotlib's Grace Hopper):
one-line errors for pictures it cannot animate, a deterministic warp that leaves the background
alone, and — the point — FaceLandmarker reading the driven expression back off the frames."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from face_fixtures import HOPPER_FACE, astronaut, canvas, face_tile, grace_hopper, paste

from agent.core.face_state import FaceState, weights_from
from render.photo import PhotoError, PhotoRenderer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def landmarker():
    from perception.face import FaceLandmarker

    lm = FaceLandmarker(video=False, num_faces=4)
    yield lm
    lm.close()


@pytest.fixture(scope="module")
def hopper(landmarker):
    return PhotoRenderer(grace_hopper(), landmarker=landmarker, threads=1)


@pytest.fixture(scope="module")
def astro(landmarker):
    return PhotoRenderer(astronaut(), landmarker=landmarker, threads=2)


def _one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text
    return text


# ------------------------------------------------------------------------------ errors

def test_a_landscape_without_a_face_is_one_line(landmarker):
    import skimage.data

    with pytest.raises(PhotoError) as e:
        PhotoRenderer(skimage.data.coffee(), landmarker=landmarker)
    assert _one_line(e).startswith("no face found in the picture; use a front-facing portrait")
    with pytest.raises(PhotoError, match="no face found"):
        PhotoRenderer(canvas((512, 512)), landmarker=landmarker)


def test_two_faces_need_a_choice(landmarker):
    tile = face_tile(grace_hopper(), HOPPER_FACE, pad=0.5)
    two = paste(paste(canvas((800, 400)), tile, (200, 200), 300), tile, (600, 200), 300)
    with pytest.raises(PhotoError) as e:
        PhotoRenderer(two, landmarker=landmarker)
    assert "has 2 faces; say which with face_index" in _one_line(e)
    right = PhotoRenderer(two, landmarker=landmarker, face_index=1)
    assert right.portrait.points[:, 0].mean() == pytest.approx(256, abs=30)  # framed on that face
    with pytest.raises(PhotoError, match="face_index 5 is out of range"):
        PhotoRenderer(two, landmarker=landmarker, face_index=5)


def test_small_faces_and_bad_files_are_one_line(landmarker, tmp_path):
    tile = face_tile(grace_hopper(), HOPPER_FACE, pad=0.5)
    small = paste(canvas((1280, 960)), tile, (640, 480), 80)
    faces = landmarker.detect(small)
    if faces:  # the landmarker may miss a face this small; either way it cannot be animated
        with pytest.raises(PhotoError) as e:
            PhotoRenderer(small, landmarker=landmarker)
        assert "too small to animate" in _one_line(e) or "no face found" in str(e.value)
    with pytest.raises(PhotoError, match="no such file"):
        PhotoRenderer(str(tmp_path / "missing.jpg"), landmarker=landmarker)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    with pytest.raises(PhotoError, match="not a readable image"):
        PhotoRenderer(str(junk), landmarker=landmarker)


def test_an_extreme_pose_is_refused(landmarker):
    """A real detection with its pose matrix turned 50° (no registry portrait is that turned)."""
    from dataclasses import replace

    face = landmarker.detect(grace_hopper())[0]
    a = np.radians(50)
    turn = np.eye(4, dtype=np.float32)
    turn[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    turned = replace(face, matrix=turn @ face.matrix)
    fake = SimpleNamespace(detect=lambda image: [turned])
    with pytest.raises(PhotoError) as e:
        PhotoRenderer(grace_hopper(), landmarker=fake)
    assert "turned too far" in _one_line(e) and "front-facing portrait" in str(e.value)


# ------------------------------------------------------------------------------ the warp

STATES = [FaceState(), FaceState(weights=weights_from({"jawOpen": 0.7, "mouthSmileLeft": 0.5})),
          FaceState(weights=weights_from({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}), head=(0.1, -0.2, 0.1)),
          FaceState(weights=weights_from({"browInnerUp": 1, "mouthPucker": 0.8}), gaze=(0.3, -0.2),
                    translation=(0.01, 0.0, 0.0))]


def test_frames_are_deterministic_and_batch_free(astro):
    a = astro.render(STATES)
    b = astro.render(STATES)
    assert a.shape == (4, 512, 512, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    singles = np.concatenate([astro.render([s]) for s in STATES])
    assert np.array_equal(a, singles)


def test_rest_is_the_photo_and_the_background_stays(astro, hopper):
    for r in (astro, hopper):
        frames = r.render(STATES)
        base = r.portrait.image
        sealed = r.sealed  # the astronaut's parted lips are closed in her neutral frame
        r.set_sealed(0.0)
        try:
            assert np.abs(r.render([r.photo_state()])[0].astype(int) - base).max() <= 1  # the photo itself
        finally:
            r.set_sealed(sealed)
        x0, y0, x1, y1 = r.mesh.roi
        outside = np.ones(base.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert outside.mean() > 0.2
        for f in frames[1:]:
            assert np.array_equal(f[outside], base[outside])
            diff = np.abs(f.astype(int) - base).max(axis=2)
            assert diff[y0:y1, x0:x1].max() > 40  # the face did move
        # far from the face (beyond the halo) the region of interest barely changes either
        xy = r.portrait.points[:, :2]
        centre, radius = xy.mean(axis=0), np.ptp(xy, axis=0).max()
        yy, xx = np.mgrid[0:512, 0:512]
        far = np.hypot(xx - centre[0], yy - centre[1]) > 1.1 * radius
        for f in frames[1:]:
            assert np.mean(np.abs(f[far].astype(int) - base[far]) > 8) < 0.01


def test_the_mouth_inside_is_painted_only_when_the_lips_part(hopper):
    states = [FaceState(), FaceState(weights=weights_from({"jawOpen": 0.8})),
              FaceState(weights=weights_from({"jawOpen": 0.8, "mouthClose": 0.8}))]
    closed, opened, sealed = hopper.render(states)
    xy = hopper.vertex_positions(states[1:2])[0]
    x0, y0 = xy[[78, 13]].min(axis=0).astype(int)
    x1, y1 = xy[[308, 14]].max(axis=0).astype(int)
    box = (slice(y0, y1), slice(x0, x1))

    def dark(f: np.ndarray) -> float:  # the darkest tenth of the mouth's box
        return float(np.percentile(f[box].mean(axis=2), 10))

    assert dark(opened) < 0.5 * dark(closed)  # a cavity where the lips were
    assert dark(sealed) > 0.8 * dark(closed)  # jaw open behind closed lips: no cavity shows


def test_make_renderer_uses_the_photo(tmp_path):
    from agent.core.stages import Renderer
    from render.renderer import make_renderer

    path = tmp_path / "hopper.jpg"
    cv2.imwrite(str(path), grace_hopper()[:, :, ::-1])
    r = make_renderer(SimpleNamespace(photo=str(path)), size=(256, 256))
    assert isinstance(r, PhotoRenderer) and isinstance(r, Renderer)
    assert r.render([FaceState()]).shape == (1, 256, 256, 3)


# ------------------------------------------------------------------------------ read back

SWEEPS = [("jawOpen", ("jawOpen",), "jawOpen", 0.8),
          ("smile", ("mouthSmileLeft", "mouthSmileRight"), "mouthSmileLeft", 0.8),
          ("blink", ("eyeBlinkLeft", "eyeBlinkRight"), "eyeBlinkLeft", 1.0)]


@pytest.mark.parametrize("label,driven,read,top", SWEEPS, ids=[s[0] for s in SWEEPS])
def test_the_landmarker_reads_back_the_driven_blendshape(hopper, astro, landmarker, label, driven, read, top):
    xs = np.linspace(0.0, top, 6)
    states = [FaceState(weights=weights_from({n: x for n in driven})) for x in xs]
    # the astronaut already smiles at 0.9 in her photo: only the neutral face can show a smile grow
    for r in (hopper,) if label == "smile" else (hopper, astro):
        ys = np.array([landmarker.detect(f)[0].weight(read) for f in r.render(states)])
        assert np.corrcoef(xs, ys)[0, 1] > 0.85, (label, r.portrait.source, ys)
        assert ys[-1] - ys[0] > 0.14, (label, r.portrait.source, ys)  # by a visible amount


def test_closed_lids_are_seen_closed(astro, hopper, landmarker):
    """MediaPipe's eyeBlink score stays modest (about 0.3-0.4) on these closed lids, but its own
    lid landmarks close: the lid gap falls to about a quarter of the open gap on the astronaut and
    under half on Grace Hopper (her glasses' rims keep part of the eye's outline)."""
    states = [FaceState(), FaceState(weights=weights_from({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}))]
    for r, share in ((astro, 0.35), (hopper, 0.55)):
        gaps = []
        for f in r.render(states):
            p = landmarker.detect(f)[0].landmarks[:, :2] * f.shape[1::-1]
            gaps.append(((p[145] - p[159]) @ r.axis_y, (p[374] - p[386]) @ r.axis_y))
        opened, closed = np.array(gaps)
        assert np.all(closed < share * opened), (r.portrait.source, gaps)
