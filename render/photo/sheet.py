"""A contact sheet of a photo avatar: the basic emotions, a head turn, every viseme and a blink,
each tile cropped to the face so the expression can be read."""

from __future__ import annotations

import numpy as np

from render.face_state import FaceState

COLUMNS = 8
TILE = 224


def photo_sheet(renderer, title: str = "", tile: int = TILE) -> np.ndarray:
    """(H, W, 3) uint8 RGB: labelled tiles from ``agent gallery``'s list, cropped to the face."""
    import cv2

    from agent.commands.gallery import tiles

    items = tiles()
    frames = renderer.render([FaceState(weights=w, head=h) for _, w, h in items])
    xy = renderer.portrait.points[:, :2]
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    side = 1.25 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.03 * side
    h, w = frames.shape[1:3]
    left = int(np.clip(cx - side / 2, 0, w - side))
    top = int(np.clip(cy - side / 2, 0, h - side))
    s = int(side)
    rows = -(-len(items) // COLUMNS)
    head = 40 if title else 0
    sheet = np.full((head + rows * tile, COLUMNS * tile, 3), 250, np.uint8)
    if title:
        cv2.putText(sheet, title, (12, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (40, 40, 40), 2, cv2.LINE_AA)
    for i, ((label, _, _), frame) in enumerate(zip(items, frames)):
        crop = frame[top:top + s, left:left + s]
        small = cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_AREA if s > tile else cv2.INTER_CUBIC)
        r, c = divmod(i, COLUMNS)
        y, x = head + r * tile, c * tile
        sheet[y:y + tile, x:x + tile] = small
        cv2.rectangle(sheet, (x, y + tile - 24), (x + tile - 1, y + tile - 1), (255, 255, 255), -1)
        cv2.putText(sheet, label, (x + 6, y + tile - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (30, 30, 30), 1, cv2.LINE_AA)
    return sheet
