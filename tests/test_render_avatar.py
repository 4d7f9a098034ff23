"""The drawn avatar: every blendshape moves the right part of the face, emotions read, it is
deterministic and batched.

Regions are found from the painter's own layout (head centre and zoom), so a test names a
feature, not a pixel.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from agent.core.face_state import BLENDSHAPES, FaceState, weights_from
from agent.core.stages import Renderer
from persona.config import Avatar
from render.avatar import STYLES, AvatarRenderer
from render.avatar.painter import HEAD_Y, ZOOM
from render.renderer import make_renderer

SIZE = 256
STYLE = replace(STYLES["ada"], accessory="none")  # no glasses over the brows

PRESETS = {  # our own test presets (the animator's are tested with the animator)
    "joy": {"mouthSmileLeft": .8, "mouthSmileRight": .8, "cheekSquintLeft": .6, "cheekSquintRight": .6},
    "sadness": {"browInnerUp": .8, "mouthFrownLeft": .7, "mouthFrownRight": .7},
    "surprise": {"browInnerUp": .9, "browOuterUpLeft": .9, "browOuterUpRight": .9,
                 "eyeWideLeft": .8, "eyeWideRight": .8, "jawOpen": .5},
    "anger": {"browDownLeft": .9, "browDownRight": .9, "eyeSquintLeft": .4, "eyeSquintRight": .4,
              "mouthPressLeft": .6, "mouthPressRight": .6},
    "fear": {"browInnerUp": .9, "browDownLeft": .4, "browDownRight": .4, "eyeWideLeft": .9,
             "eyeWideRight": .9, "mouthStretchLeft": .7, "mouthStretchRight": .7, "jawOpen": .2},
    "disgust": {"noseSneerLeft": .8, "noseSneerRight": .8, "mouthUpperUpLeft": .6, "mouthUpperUpRight": .6},
    "PP": {"mouthClose": .3, "jawOpen": .05, "mouthPressLeft": .5, "mouthPressRight": .5},
    "aa": {"jawOpen": .6},
    "oh": {"jawOpen": .35, "mouthFunnel": .7},
    "ou": {"mouthPucker": .9, "jawOpen": .1},
    "FF": {"mouthRollLower": .7, "jawOpen": .1},
    "E": {"mouthStretchLeft": .5, "mouthStretchRight": .5, "jawOpen": .25},
    "ih": {"mouthStretchLeft": .3, "mouthStretchRight": .3, "mouthSmileLeft": .2,
           "mouthSmileRight": .2, "jawOpen": .15},
}


def px(x: float, y: float) -> tuple[int, int]:
    """(row, col) of a head-local point on a front-facing, centred head."""
    cx, cy = ZOOM * x, HEAD_Y + ZOOM * y
    return int((1 - cy) / 2 * SIZE), int((cx + 1) / 2 * SIZE)


def box(x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice]:
    r1, c0 = px(x0, y0)
    r0, c1 = px(x1, y1)
    return slice(r0, r1 + 1), slice(c0, c1 + 1)


EYE = box(STYLE.eye_gap - 0.1, STYLE.eye_gap + 0.1, -0.05, 0.05)  # the viewer's right eye
BROWS = box(-0.3, 0.3, 0.04, 0.22)
MOUTH = box(-0.17, 0.17, -0.36, -0.16)
UPPER = slice(0, px(0, 0.06)[0])  # brows and forehead
MIDDLE = slice(px(0, 0.10)[0], px(0, -0.18)[0])  # eyes, cheeks, nose
LOWER = slice(px(0, -0.12)[0], SIZE)  # mouth, jaw, chin


@pytest.fixture(scope="module")
def renderer() -> AvatarRenderer:
    return AvatarRenderer(STYLE, size=(SIZE, SIZE), device="cpu")


def frame(r: AvatarRenderer, weights: dict[str, float] | None = None, **kw: object) -> np.ndarray:
    return r.render([FaceState(weights=weights_from(weights or {}), **kw)])[0].astype(np.float32)


def changed(a: np.ndarray, b: np.ndarray, threshold: float = 30.0) -> np.ndarray:
    return np.abs(a - b).max(axis=2) > threshold


def dark(img: np.ndarray) -> np.ndarray:
    return img.mean(axis=2) < 100


def test_shape_dtype_and_protocol(renderer: AvatarRenderer) -> None:
    assert isinstance(renderer, Renderer)
    out = renderer.render([FaceState(), FaceState()])
    assert out.shape == (2, SIZE, SIZE, 3) and out.dtype == np.uint8
    assert renderer.render([]).shape == (0, SIZE, SIZE, 3)


@pytest.mark.parametrize("name", BLENDSHAPES)
def test_every_blendshape_visibly_moves_its_part_of_the_face(renderer: AvatarRenderer, name: str) -> None:
    neutral = frame(renderer)
    moved = changed(frame(renderer, {name: 1.0}), neutral)
    assert moved.sum() >= 8, f"{name} at 1.0 changes only {moved.sum()} pixels"
    rows = np.nonzero(moved)[0]
    centre = float(np.median(rows))
    region = (UPPER if name.startswith("brow") else LOWER if name == "cheekPuff"
              else MIDDLE if name.startswith(("eye", "cheek", "nose")) else LOWER)
    assert region.start <= centre < region.stop, f"{name} moved rows around {centre}, expected {region}"


def _rows_of(mask: np.ndarray) -> float:
    r = np.nonzero(mask)[0]
    return float(r.mean()) if r.size else float("nan")


def _mouth_mask(img: np.ndarray, neutral_skin: np.ndarray) -> np.ndarray:
    """Lip, teeth and mouth pixels in the mouth box: far from the skin colour."""
    sub = img[MOUTH]
    return np.abs(sub - neutral_skin).max(axis=2) > 45


def _corner_lift(img: np.ndarray, skin: np.ndarray) -> float:
    """Mean row of the mouth's centre strip minus its corner strips (> 0: corners higher)."""
    m = _mouth_mask(img, skin)
    cols = np.nonzero(m.any(axis=0))[0]
    c0, c1 = cols.min(), cols.max()
    w = max(2, (c1 - c0) // 6)
    corners = np.concatenate([np.nonzero(m[:, c0:c0 + w])[0], np.nonzero(m[:, c1 - w + 1:c1 + 1])[0]])
    centre = np.nonzero(m[:, (c0 + c1) // 2 - w // 2:(c0 + c1) // 2 + w // 2 + 1])[0]
    return float(centre.mean() - corners.mean())


def test_joy_lifts_the_mouth_corners_and_sadness_drops_them(renderer: AvatarRenderer) -> None:
    neutral = frame(renderer)
    skin = neutral[px(-0.12, -0.32)]  # cheek beside the mouth
    lift = {k: _corner_lift(frame(renderer, PRESETS[k]) if k != "neutral" else neutral, skin)
            for k in ("neutral", "joy", "sadness")}
    assert lift["joy"] > lift["neutral"] + 3, lift
    assert lift["sadness"] < lift["neutral"] - 2, lift


def test_blink_turns_the_eye_into_lid(renderer: AvatarRenderer) -> None:
    neutral, shut = frame(renderer)[EYE], frame(renderer, {"eyeBlinkLeft": 1.0})[EYE]
    white = lambda img: int((img.min(axis=2) > 200).sum())  # noqa: E731 - eye whites
    assert white(neutral) > 5 and white(shut) == 0
    lid = np.array(STYLE.skin) * 255 * 0.8
    centre = shut[shut.shape[0] // 2 - 1:shut.shape[0] // 2 + 2, shut.shape[1] // 4:3 * shut.shape[1] // 4]
    # the closed eye is lid-coloured apart from the lash line
    assert np.median(np.abs(centre.reshape(-1, 3) - lid).max(axis=1)) < 60 or \
        np.median(np.abs(shut[2:5].reshape(-1, 3) - lid).max(axis=1)) < 60
    other = frame(renderer, {"eyeBlinkLeft": 1.0})[box(-STYLE.eye_gap - 0.1, -STYLE.eye_gap + 0.1, -0.05, 0.05)]
    assert (other.min(axis=2) > 200).sum() > 5, "eyeBlinkLeft must close one eye only"


def test_jaw_open_grows_the_dark_mouth(renderer: AvatarRenderer) -> None:
    areas = [int(dark(frame(renderer, {"jawOpen": j})[MOUTH]).sum()) for j in (0.0, 0.3, 0.6, 1.0)]
    assert areas[0] < areas[1] < areas[2] < areas[3], areas


def test_teeth_and_tongue_show_in_an_open_mouth(renderer: AvatarRenderer) -> None:
    open_ = frame(renderer, {"jawOpen": 0.7})[MOUTH]
    assert (open_.min(axis=2) > 200).sum() > 10  # teeth
    def lowest_pink(img: np.ndarray) -> int:  # lips or tongue
        m = (img[..., 0] > 170) & (img[..., 1] < 140) & (img[..., 2] < 150)
        return int(np.nonzero(m)[0].max())
    out = frame(renderer, {"jawOpen": 0.4, "tongueOut": 1.0})
    assert lowest_pink(out) > lowest_pink(frame(renderer, {"jawOpen": 0.4})) + 3  # over the lower lip


def test_brows_move_up_and_down() -> None:
    bruno = AvatarRenderer(replace(STYLES["bruno"], accessory="none"), size=(SIZE, SIZE))
    brows = box(-0.3, 0.3, 0.0, 0.24)  # below bruno's hairline
    hair = lambda img: (img[brows].max(axis=2) < 70) & (img[brows][..., 0] > 22)  # noqa: E731

    def rows(w: dict[str, float]) -> float:
        return _rows_of(hair(bruno.render([FaceState(weights=weights_from(w))])[0].astype(np.float32)))
    rest = rows({})
    up = rows({"browInnerUp": 1, "browOuterUpLeft": 1, "browOuterUpRight": 1})
    down = rows({"browDownLeft": 1, "browDownRight": 1})
    assert up < rest - 2 and down > rest + 1, (up, rest, down)


def test_gaze_moves_the_pupils(renderer: AvatarRenderer) -> None:
    def pupil_col(img: np.ndarray) -> float:
        m = img[EYE].max(axis=2) < 40
        return float(np.nonzero(m)[1].mean())
    left, right = frame(renderer, gaze=(-0.4, 0.0)), frame(renderer, gaze=(0.4, 0.0))
    assert pupil_col(right) > pupil_col(left) + 2
    look_out = frame(renderer, {"eyeLookOutLeft": 1.0})  # the character's left eye: viewer's right
    assert pupil_col(look_out) > pupil_col(frame(renderer)) + 1


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_emotion_and_viseme_changes_the_face(renderer: AvatarRenderer, name: str) -> None:
    moved = changed(frame(renderer, PRESETS[name]), frame(renderer))
    assert moved.sum() > 25


def test_head_turn_moves_features_and_foreshortens(renderer: AvatarRenderer) -> None:
    def pupils(img: np.ndarray) -> tuple[float, float]:
        band = img[px(0, 0.06)[0]:px(0, -0.06)[0]]
        cols = np.nonzero(band.max(axis=2) < 40)[1]
        return float(cols.mean()), float(cols.max() - cols.min())
    front, turned = pupils(frame(renderer)), pupils(frame(renderer, head=(0.0, 0.4, 0.0)))
    assert turned[0] > front[0] + 5  # yaw > 0 turns toward the viewer's right
    assert turned[1] < front[1] - 2  # and the eyes' spacing foreshortens


def test_deterministic_and_batch_equals_single(renderer: AvatarRenderer) -> None:
    rng = np.random.default_rng(0)
    states = [FaceState(weights=rng.uniform(0, 0.7, 52).astype(np.float32),
                        head=tuple(rng.uniform(-0.2, 0.2, 3)), gaze=tuple(rng.uniform(-0.2, 0.2, 2)))
              for _ in range(6)]
    a, b = renderer.render(states), renderer.render(states)
    assert np.array_equal(a, b)
    single = renderer.render(states[2:3])[0]
    assert np.abs(single.astype(int) - a[2].astype(int)).max() <= 2


def test_styles_are_distinct_and_colour_overrides_apply() -> None:
    frames = {n: make_renderer(Avatar(style=n), size=(128, 128)).render([FaceState()])[0].astype(int)
              for n in STYLES}
    names = sorted(frames)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(frames[a] - frames[b]).mean() > 8, (a, b)
    green = make_renderer(Avatar(style="ada", skin="#20c040"), size=(128, 128)).render([FaceState()])[0]
    cheek = green[70, 40:88].astype(int)
    assert (cheek[:, 1] > cheek[:, 0] + 40).mean() > 0.5


def test_photo_avatar_without_the_photo_renderer_and_unknown_renderer_are_clear_errors(monkeypatch) -> None:
    import sys

    from agent.core.errors import UserError

    monkeypatch.setitem(sys.modules, "render.photo", None)  # a build without the photo renderer
    with pytest.raises(UserError, match="photo avatars are not available"):
        make_renderer(Avatar(photo="me.jpg"))
    with pytest.raises(UserError, match="unknown renderer"):
        make_renderer(Avatar(), name="no-such-renderer")


def test_two_threads_can_render_at_once(renderer: AvatarRenderer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    batches = [[FaceState(weights=weights_from(PRESETS[name]))] * 3 for name in ("joy", "anger", "aa", "ou")]
    expected = [renderer.render(b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(renderer.render, batches))
    assert all(np.array_equal(a, b) for a, b in zip(expected, got))
