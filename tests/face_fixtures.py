"""Real photographs shipped in registry packages and the images and clips the face tests build
from them.

- ``astronaut``: Eileen Collins (NASA, public domain), scikit-image ``skimage.data.astronaut``;
  she smiles broadly.
- ``grace_hopper``: Grace Hopper (U.S. Navy, public domain), shipped in matplotlib's sample
  data (matplotlib is a dependency of mediapipe); a closed-mouth, near-neutral face.

Everything else is derived: crops, flips, rotations, darkening, blur, occlusion boxes, faces
pasted side by side at different sizes, and clips written with PyAV.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# Face boxes (x0, y0, x1, y1) in the source images, measured once with the landmarker.
ASTRONAUT_FACE = (180, 71, 270, 177)
HOPPER_FACE = (170, 132, 355, 334)


def astronaut() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut())


def grace_hopper() -> np.ndarray:
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def face_tile(image: np.ndarray, box: tuple[int, int, int, int], pad: float = 0.9) -> np.ndarray:
    """A square crop around the face box with ``pad`` × its size added on every side."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * pad)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    m = np.float32([[1, 0, side / 2 - cx], [0, 1, side / 2 - cy]])
    s = int(round(side))
    return cv2.warpAffine(image, m, (s, s), borderMode=cv2.BORDER_REFLECT)


def canvas(size: tuple[int, int] = (640, 480), colour: tuple[int, int, int] = (92, 96, 104)) -> np.ndarray:
    w, h = size
    return np.full((h, w, 3), colour, dtype=np.uint8)


def paste(dst: np.ndarray, tile: np.ndarray, centre: tuple[float, float], height: int) -> np.ndarray:
    """Paste ``tile`` scaled to ``height`` pixels, centred at ``centre`` (clipped to ``dst``)."""
    out = dst.copy()
    scale = height / tile.shape[0]
    t = cv2.resize(tile, (max(1, int(tile.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
    th, tw = t.shape[:2]
    x0, y0 = int(centre[0] - tw / 2), int(centre[1] - th / 2)
    H, W = out.shape[:2]
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    dx1, dy1 = min(W, x0 + tw), min(H, y0 + th)
    out[dy0:dy1, dx0:dx1] = t[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0]
    return out


def scene(tiles: list[tuple[np.ndarray, float, float, int]], size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """Several faces on one canvas: ``(tile, centre_x, centre_y, height)`` each."""
    img = canvas(size)
    for tile, cx, cy, h in tiles:
        img = paste(img, tile, (cx, cy), h)
    return img


def darken(image: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(image.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Counter-clockwise in the image, about the centre."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def occlude(image: np.ndarray, box: tuple[int, int, int, int],
            colour: tuple[int, int, int] = (30, 30, 36)) -> np.ndarray:
    out = image.copy()
    x0, y0, x1, y1 = box
    out[y0:y1, x0:x1] = colour
    return out


def squash_horizontally(image: np.ndarray, box: tuple[int, int, int, int], factor: float) -> np.ndarray:
    """Compress the face box horizontally toward one side: a crude stand-in for a head turned
    away (the face gets narrower, the far half foreshortened)."""
    out = image.copy()
    x0, y0, x1, y1 = box
    w = x1 - x0
    region = image[y0:y1, x0:x1]
    narrow = cv2.resize(region, (max(1, int(w * factor)), y1 - y0), interpolation=cv2.INTER_AREA)
    out[y0:y1, x0:x1] = image[y0:y1, x0:x1].mean(axis=(0, 1)).astype(np.uint8)
    out[y0:y1, x0:x0 + narrow.shape[1]] = narrow
    return out


def warp_mouth_corners(image: np.ndarray, corners: list[tuple[float, float]], dy: float,
                       radius: float) -> np.ndarray:
    """Move the pixels around each mouth corner by ``dy`` (positive = down) with a smooth
    Gaussian displacement field (cv2.remap): turns a smile's raised corners down."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    disp = np.zeros_like(yy)
    for cx, cy in corners:
        disp += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius ** 2)).astype(np.float32)
    # remap samples the source: to move content down, read from above.
    return cv2.remap(image, xx, yy - dy * np.minimum(disp, 1.0), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """RGB frames to an H.264 (or MPEG-4) file with PyAV."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        try:
            stream = out.add_stream("libx264", rate=fps)
            stream.options = {"crf": "18", "preset": "ultrafast"}
        except Exception:
            stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def draw_open_mouth(image: np.ndarray, face, frac: float) -> np.ndarray:
    """Paint a dark open mouth between the lips, ``frac`` × the mouth width tall: a crude but
    effective way to make a still portrait "talk" (the landmarks' lip gap follows it)."""
    out = image.copy()
    if frac <= 0:
        return out
    left, right = face.point(61), face.point(291)
    centre = (face.point(13) + face.point(14)) / 2
    w = float(np.linalg.norm(right - left))
    h = frac * w
    cv2.ellipse(out, (int(centre[0]), int(centre[1] + h / 4)), (int(w * 0.42), max(1, int(h / 2))),
                0, 0, 360, (45, 20, 25), -1, cv2.LINE_AA)
    return out
