"""Contact sheets of an avatar: every basic emotion, a head turn, every viseme and a blink, each
tile labelled. A photo avatar's tiles are cropped to the face so the expression can be read."""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.core.face_state import FaceState, weights_from

EMOTIONS = ("neutral", "joy", "sadness", "surprise", "anger", "fear", "disgust")
TILE = 224
COLUMNS = 8


def tiles() -> list[tuple[str, np.ndarray, tuple[float, float, float]]]:
    """(label, blendshape weights, head pose) for each tile: emotions, visemes, a turn, a blink."""
    from persona.emotion import Emotion
    from render.expression import blendshapes_from_aus, emotion_aus
    from render.lipsync import VISEME_POSES, VISEMES

    out = []
    for label in EMOTIONS:
        aus = emotion_aus(Emotion.from_label(label), 1.0)
        out.append((label, blendshapes_from_aus(aus), (0.0, 0.0, 0.0)))
    out.append(("turn", np.zeros(52, np.float32), (0.08, 0.42, 0.06)))
    for v in VISEMES:
        out.append((f"viseme {v}", weights_from(VISEME_POSES[v]), (0.0, 0.0, 0.0)))
    out.append(("blink", weights_from({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}), (0.0, 0.0, 0.0)))
    return out


def contact_sheet(renderer: Any, title: str = "", tile: int = TILE) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the labelled tiles on a grid, drawn by ``renderer``."""
    import cv2

    items = tiles()
    frames = renderer.render([FaceState(weights=w, head=h) for _, w, h in items])
    crop = _face_crop(renderer, frames.shape[1:3])
    rows = -(-len(items) // COLUMNS)
    head = 40 if title else 0
    sheet = np.full((head + rows * tile, COLUMNS * tile, 3), 250, np.uint8)
    if title:
        cv2.putText(sheet, title, (12, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (40, 40, 40), 2, cv2.LINE_AA)
    for i, ((label, _, _), frame) in enumerate(zip(items, frames)):
        if crop is not None:
            top, left, s = crop
            frame = frame[top:top + s, left:left + s]
        shrink = frame.shape[0] > tile
        small = cv2.resize(frame, (tile, tile), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        r, c = divmod(i, COLUMNS)
        y, x = head + r * tile, c * tile
        sheet[y:y + tile, x:x + tile] = small
        cv2.rectangle(sheet, (x, y + tile - 26), (x + tile - 1, y + tile - 1), (255, 255, 255), -1)
        cv2.putText(sheet, label, (x + 8, y + tile - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (30, 30, 30), 1,
                    cv2.LINE_AA)
    return sheet


def _face_crop(renderer: Any, shape: tuple[int, int]) -> tuple[int, int, int] | None:
    """(top, left, side) of a square around a photo avatar's face; None for drawn avatars,
    which fill the frame already."""
    portrait = getattr(renderer, "portrait", None)
    if portrait is None:
        return None
    xy = portrait.points[:, :2]
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    side = 1.25 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.03 * side
    h, w = shape
    left = int(np.clip(cx - side / 2, 0, w - side))
    top = int(np.clip(cy - side / 2, 0, h - side))
    return top, left, int(side)
