"""A portrait ready to animate: the picture framed for the output size and its face's landmarks
in output pixels, detected once. Pictures that cannot be animated fail here with one line that
says what picture would work."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.core.errors import UserError

log = logging.getLogger(__name__)

FACE_SHARE = 0.42  # face height (forehead to chin) as a share of the output height
FACE_CENTRE_Y = 0.47  # where the face's centre sits in the output, as a share of its height
MIN_FACE_PX = 64  # below this the source has too little detail to warp
MAX_YAW = 0.5  # radians (~29°): beyond it the far half of the face is hidden
MAX_PITCH = 0.5
MAX_ROLL = 0.6
WORKS = "use a front-facing portrait with the face at least 1/4 of the picture"


class PhotoError(UserError):
    """A portrait that cannot be animated, and why."""


@dataclass(frozen=True, slots=True)
class Portrait:
    """``image`` (H, W, 3) uint8 RGB at the output size; ``points`` (478, 3) landmarks in its
    pixels (z in the same scale, > 0 away from the camera)."""

    image: np.ndarray
    points: np.ndarray
    blendshapes: np.ndarray  # what the photo itself shows (52,)
    head: tuple[float, float, float]
    source: str

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]


def read_image(path: str | Path) -> np.ndarray:
    import cv2

    p = Path(path).expanduser()
    if not p.is_file():
        raise PhotoError(f"avatar photo {p}: no such file; give the path to a portrait (.jpg or .png)")
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise PhotoError(f"avatar photo {p}: not a readable image; use a .jpg or .png portrait")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def split_choice(path: str | Path) -> tuple[str, int | None]:
    """``portrait.jpg#1`` picks the second face from the left in a group picture."""
    text = str(path)
    m = re.fullmatch(r"(.*)#(\d+)", text)
    if m and not Path(text).expanduser().exists():
        return m.group(1), int(m.group(2))
    return text, None


def load_portrait(source: str | Path | np.ndarray, size: tuple[int, int] = (512, 512),
                  face_index: int | None = None, landmarker: object | None = None) -> Portrait:
    """Detect the face once, check it can be animated, and frame it for ``size`` (w, h)."""
    if isinstance(source, np.ndarray):
        image, name = np.ascontiguousarray(source[..., :3], dtype=np.uint8), "the picture"
    else:
        path, chosen = split_choice(source)
        face_index = chosen if face_index is None else face_index
        image, name = read_image(path), str(path)
    faces = _detect(image, landmarker)
    face = _choose(faces, face_index, name)
    _check(face, name)
    return _frame(image, face, size, name)


def _detect(image: np.ndarray, landmarker: Any | None) -> list[Any]:
    if landmarker is not None:
        return landmarker.detect(image)
    from perception.face import FaceLandmarker

    lm = FaceLandmarker(video=False, num_faces=4)
    try:
        return lm.detect(image)
    finally:
        lm.close()


def _choose(faces: list, face_index: int | None, name: str):
    if not faces:
        raise PhotoError(f"no face found in {name}; {WORKS}")
    faces = sorted(faces, key=lambda f: f.box[0])  # left to right
    if face_index is not None:
        if not 0 <= face_index < len(faces):
            raise PhotoError(f"{name} has {len(faces)} face(s); face_index {face_index} is out of "
                             f"range (0 = leftmost)")
        return faces[face_index]
    if len(faces) > 1:
        raise PhotoError(f"{name} has {len(faces)} faces; say which with face_index (or PATH#N, "
                         f"0 = leftmost), or use a portrait of one person")
    return faces[0]


def _check(face, name: str) -> None:
    if face.height_px < MIN_FACE_PX:
        raise PhotoError(f"the face in {name} is {face.height_px:.0f} px tall, too small to animate "
                         f"(needs {MIN_FACE_PX}+); {WORKS}")
    pitch, yaw, roll = face.head
    if abs(yaw) > MAX_YAW or abs(pitch) > MAX_PITCH or abs(roll) > MAX_ROLL:
        raise PhotoError(f"the face in {name} is turned too far (yaw {np.degrees(yaw):.0f}°, pitch "
                         f"{np.degrees(pitch):.0f}°, roll {np.degrees(roll):.0f}°; the limit is "
                         f"{np.degrees(MAX_YAW):.0f}°); {WORKS}")


def _frame(image: np.ndarray, face, size: tuple[int, int], name: str) -> Portrait:
    """Scale and shift so the face fills FACE_SHARE of the output height around its centre."""
    import cv2

    w, h = int(size[0]), int(size[1])
    src_h, src_w = image.shape[:2]
    px = face.landmarks[:, :2] * (src_w, src_h)
    x0, y0 = px.min(axis=0)
    x1, y1 = px.max(axis=0)
    scale = FACE_SHARE * h / max(1.0, y1 - y0)
    tx = w / 2 - scale * (x0 + x1) / 2
    ty = FACE_CENTRE_Y * h - scale * (y0 + y1) / 2
    m = np.array([[scale, 0, tx], [0, scale, ty]], np.float32)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    framed = cv2.warpAffine(image, m, (w, h), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    points = np.empty((len(px), 3), np.float32)
    points[:, :2] = px * scale + (tx, ty)
    points[:, 2] = face.landmarks[:, 2] * src_w * scale
    log.info("photo avatar: face %.0f px tall in the source, scaled %.2f×", y1 - y0, scale)
    return Portrait(framed, points, face.blendshapes.copy(), face.head, name)
