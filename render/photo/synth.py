"""What the photo does not show, painted from its own colours: the mouth's inside when the
lips part wider than in the picture, and the lids when the eyes close."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from render.photo import landmarks as L

SUB = 3  # cv2 fixed-point bits: 1/8-pixel polygon vertices
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True, slots=True)
class Palette:
    cavity: tuple[float, float, float]
    teeth: tuple[float, float, float]
    tongue: tuple[float, float, float]
    lid: dict[str, tuple[float, float, float]]
    lash: tuple[float, float, float]


def _median_in(image: np.ndarray, polys: list[np.ndarray], minus: list[np.ndarray] | None = None):
    import cv2

    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(p).astype(np.int32).reshape(-1, 1, 2) for p in polys], 255)
    for p in minus or []:
        cv2.fillPoly(mask, [np.round(p).astype(np.int32).reshape(-1, 1, 2)], 0)
    px = image[mask > 0]
    if len(px) < 4:
        return None
    return np.median(px.astype(np.float32), axis=0)


def _mask(image: np.ndarray, poly: np.ndarray) -> np.ndarray:
    import cv2

    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32).reshape(-1, 1, 2)], 255)
    return mask


def _band(curve: np.ndarray, direction: np.ndarray, height: float) -> np.ndarray:
    """A band along ``curve`` whose height tapers to a third at its ends (a row of teeth seen
    from the front: the side teeth recede)."""
    t = np.linspace(0.0, 1.0, len(curve))
    h = height * (0.45 + 0.55 * np.sin(np.pi * t))
    return np.concatenate([curve, (curve + direction * h[:, None])[::-1]])


def palette(image: np.ndarray, xy: np.ndarray) -> Palette:
    outer = np.concatenate([xy[list(L.LIP_UPPER_OUTER)], xy[list(L.LIP_LOWER_OUTER)][::-1]])
    inner = np.concatenate([xy[list(L.LIP_UPPER_INNER)], xy[list(L.LIP_LOWER_INNER)][::-1]])
    lip = _median_in(image, [outer], [inner])
    lip = np.array([170, 90, 90], np.float32) if lip is None else lip
    cheeks = [xy[[L.CHEEK[s], 50 if s == "Right" else 280, 187 if s == "Right" else 411]] for s in L.SIDES]
    skin = _median_in(image, cheeks)
    skin = lip * 1.2 if skin is None else skin
    lum = float(skin @ np.array([0.299, 0.587, 0.114]))
    bright = float(np.clip(0.65 + 0.45 * lum / 170.0, 0.75, 1.0))
    lid = {}
    for s in L.SIDES:
        up = xy[list(L.EYE_UPPER[s])]
        brow = xy[list(L.BROW[s][5:])]  # the brow's lower edge
        band = np.concatenate([up[1:-1] + (brow.mean(axis=0) - up[1:-1].mean(axis=0)) * 0.25,
                               (up[1:-1] + (brow.mean(axis=0) - up[1:-1].mean(axis=0)) * 0.6)[::-1]])
        c = _median_in(image, [band])
        ok = c is not None and 0.75 < float(c @ _LUMA) / max(1.0, lum) < 1.2  # not a glasses frame
        lid[s] = tuple(((0.5 * c + 0.5 * skin) * 0.96 if ok else skin * 0.92).tolist())
    lash = skin * np.array([0.28, 0.24, 0.22])
    teeth = np.array([228, 222, 208]) * bright
    own = _median_in(image, [inner])  # a smile that shows teeth: use their colour
    if own is not None and float(own @ np.array([0.299, 0.587, 0.114])) > 0.8 * lum:
        bright_px = image[_mask(image, inner) > 0].astype(np.float32)
        luma = bright_px @ np.array([0.299, 0.587, 0.114])
        keep = luma >= np.percentile(luma, 60)
        teeth = np.median(bright_px[keep], axis=0) * 0.95
    return Palette(cavity=tuple((lip * 0.3).tolist()),
                   teeth=tuple(teeth.tolist()),
                   tongue=tuple((lip * 0.7 + np.array([150, 60, 60]) * 0.3 * bright).tolist()),
                   lid=lid, lash=tuple(lash.tolist()))


def _pts(p: np.ndarray, origin: np.ndarray) -> np.ndarray:
    return np.round((p - origin) * (1 << SUB)).astype(np.int32).reshape(-1, 1, 2)


def _gap(xy: np.ndarray, axis_y: np.ndarray) -> float:
    """How far apart the inner lips are at their middle, along the face's vertical."""
    up = xy[[81, 13, 311]]
    lo = xy[[178, 14, 402]]
    return float(((lo - up) @ axis_y).mean())


def paint_mouth(frame: np.ndarray, xy: np.ndarray, rest_gap: float, iod: float, axis_y: np.ndarray,
                pal: Palette) -> None:
    """Draw the mouth's inside into ``frame`` (in place) where the inner lips part more than in
    the photo: a dark cavity, the upper teeth under the upper lip, the tongue, the lower teeth."""
    import cv2

    gap = _gap(xy, axis_y)
    amount = float(np.clip((gap - rest_gap - 0.5) / max(1.0, 0.07 * iod), 0.0, 1.0))
    if amount <= 0.0:
        return
    up, lo = xy[list(L.LIP_UPPER_INNER)], xy[list(L.LIP_LOWER_INNER)]
    poly = np.concatenate([up, lo[::-1]])
    x0, y0 = np.floor(poly.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 3
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    origin = np.array([x0, y0], np.float64)
    patch = frame[y0:y1, x0:x1]
    inside = np.empty_like(patch)
    # the cavity: darkest deep inside, lighter toward the lips
    dist = np.zeros(patch.shape[:2], np.uint8)
    cv2.fillPoly(dist, [_pts(poly, origin)], 255, cv2.LINE_8, SUB)
    depth = cv2.distanceTransform(dist, cv2.DIST_L2, 3)
    shade = np.clip(depth / max(1.0, 0.06 * iod), 0.0, 1.0)[..., None]
    cavity = np.array(pal.cavity, np.float32)
    inside[:] = (cavity * (1.2 - 0.7 * shade)).clip(0, 255).astype(np.uint8)
    width = float(np.hypot(*(up[-1] - up[0])))
    # the upper teeth show as a strip under the lip, not half the opening: a tall flat band
    # read as a denture, not a mouth that has dropped open
    tooth = min(0.08 * iod, 0.35 * max(gap, 1.0))
    # tongue: low in the mouth, behind the lower teeth, filling down to the lower lip (half an
    # ellipse left a dark band under it that read as a black outline)
    centre = (lo[5] - up[5]) * 0.85 + up[5]
    axes = (max(1.0, 0.32 * width), max(1.0, 0.3 * gap))
    cv2.ellipse(inside, (int(round((centre[0] - x0) * 8)), int(round((centre[1] - y0) * 8))),
                (int(axes[0] * 8), int(axes[1] * 8)), 0, 0, 360, pal.tongue, -1, cv2.LINE_AA, SUB)
    cv2.fillPoly(inside, [_pts(_band(up[1:-1], axis_y, tooth), origin)], pal.teeth, cv2.LINE_AA, SUB)
    lower_h = min(0.045 * iod, 0.22 * max(gap, 1.0))
    shaded = tuple(c * k for c, k in zip(pal.teeth, (0.78, 0.72, 0.66)))
    cv2.fillPoly(inside, [_pts(_band(lo[2:-2], -axis_y, lower_h), origin)], shaded,
                 cv2.LINE_AA, SUB)
    inside = cv2.GaussianBlur(inside, (0, 0), max(0.5, 0.006 * iod))
    mask = np.zeros(patch.shape[:2], np.uint8)
    cv2.fillPoly(mask, [_pts(poly, origin)], 255, cv2.LINE_AA, SUB)
    # grown by about a pixel: the photo's dark seam between the lips sits just outside the
    # landmarks and would show as a line along the painted edge
    mask = np.clip(cv2.GaussianBlur(mask, (0, 0), 1.0).astype(np.float32) * 1.7, 0, 255).astype(np.uint8)
    alpha = (mask.astype(np.float32) * (amount / 255.0))[..., None]
    patch[:] = (patch * (1 - alpha) + inside * alpha + 0.5).astype(np.uint8)


def paint_lids(frame: np.ndarray, xy: np.ndarray, rest: np.ndarray, blink: dict[str, float], iod: float,
               pal: Palette) -> None:
    """Skin over what is left of each closing eye and a lash line along the lid's edge."""
    import cv2

    for s in L.SIDES:
        b = blink.get(s, 0.0)
        if b < 0.35:
            continue
        up, lo = xy[list(L.EYE_UPPER[s])], xy[list(L.EYE_LOWER[s])]
        rest_up = rest[list(L.EYE_UPPER[s])]
        covered = np.concatenate([rest_up, up[::-1]])
        poly = np.concatenate([covered, lo])
        x0, y0 = np.floor(poly.min(axis=0)).astype(int) - 3
        x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 4
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        origin = np.array([x0, y0], np.float64)
        patch = frame[y0:y1, x0:x1]
        mask = np.zeros(patch.shape[:2], np.uint8)
        cv2.fillPoly(mask, [_pts(np.concatenate([up, lo[::-1]]), origin)], 255, cv2.LINE_AA, SUB)
        cv2.fillPoly(mask, [_pts(covered, origin)], 235, cv2.LINE_AA, SUB)
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.6, 0.012 * iod))
        a = float(np.clip((b - 0.35) / 0.45, 0.0, 1.0))
        alpha = (mask.astype(np.float32) * (a / 255.0))[..., None]
        colour = np.array(pal.lid[s], np.float32)
        patch[:] = (patch * (1 - alpha) + colour * alpha + 0.5).astype(np.uint8)
        lash = np.zeros(patch.shape[:2], np.uint8)
        line = (up + lo) / 2 if b > 0.8 else up
        cv2.polylines(lash, [_pts(line[1:-1], origin)], False, 255, max(1, int(round(0.025 * iod))), cv2.LINE_AA,
                      SUB)
        la = (lash.astype(np.float32) * (0.85 * a / 255.0))[..., None]
        patch[:] = (patch * (1 - la) + np.array(pal.lash, np.float32) * la + 0.5).astype(np.uint8)
