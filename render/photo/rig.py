"""The photo's face rig: each driven blendshape as a displacement of the mesh vertices.

Displacements are built in a face-local frame (origin between the eyes, u toward the image's
right along the eye line, v down, unit = the distance between the eye centres) from the
portrait's own landmarks, then turned into output pixels. Every channel is linear in its
weight, so a frame's vertex motion is one (N, C) × (C, V·2) matmul; only the head turn is
applied after, per frame, as a small 3-D rotation of the face vertices.
"""

from __future__ import annotations

import numpy as np

from agent.core.face_state import BLENDSHAPES, INDEX
from render.photo import landmarks as L

# derived channels: "seal" closes the gap a photo's own parted lips show (lips pressed or
# closed); "browLower" is the brow lowerer's downward pull, which a raised inner brow (sadness,
# fear) takes over while the corrugator still draws the brows together
EXTRA = ("seal", "browLowerLeft", "browLowerRight")
CHANNELS = BLENDSHAPES + EXTRA
C_INDEX = {n: i for i, n in enumerate(CHANNELS)}
JAW_TRAVEL = 0.5  # chin drop at jawOpen = 1, in eye distances
HEAD_LIMITS = (0.2, 0.3, 0.2)  # pitch, yaw, roll radians the warp holds believably
TRANSLATION_LIMIT = 0.03  # metres
FACE_WIDTH_M = 0.14


def smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class FaceFrame:
    """The face-local frame of one portrait."""

    def __init__(self, points: np.ndarray) -> None:
        xy = points[:, :2].astype(np.float64)
        eyes = {s: xy[list(L.EYE_UPPER[s] + L.EYE_LOWER[s])].mean(axis=0) for s in L.SIDES}
        self.origin = (eyes["Left"] + eyes["Right"]) / 2
        axis = eyes["Left"] - eyes["Right"]
        self.scale = float(np.hypot(*axis))
        self.ex = axis / self.scale
        self.ey = np.array([-self.ex[1], self.ex[0]])
        self.uv = self.to_local(xy)

    def to_local(self, xy: np.ndarray) -> np.ndarray:
        d = xy - self.origin
        return np.stack([d @ self.ex, d @ self.ey], axis=-1) / self.scale

    def vectors_to_px(self, duv: np.ndarray) -> np.ndarray:
        return (duv[..., :1] * self.ex + duv[..., 1:2] * self.ey) * self.scale


def _curve(uv: np.ndarray, idx: tuple[int, ...]):
    """v as a function of u along a polyline of landmarks."""
    pts = uv[list(idx)]
    order = np.argsort(pts[:, 0])
    return lambda u: np.interp(u, pts[order, 0], pts[order, 1])


def blendshape_basis(points: np.ndarray) -> tuple[np.ndarray, FaceFrame]:
    """(C, 478, 2) pixel displacements at weight 1 for every channel in ``CHANNELS``."""
    f = FaceFrame(points)
    uv = f.uv
    u, v = uv[:, 0], uv[:, 1]
    n = len(uv)
    B = np.zeros((len(CHANNELS), n, 2))

    def add(name: str, duv: np.ndarray) -> None:
        B[C_INDEX[name]] += duv

    def gauss(centre: np.ndarray, sigma: float) -> np.ndarray:
        d2 = ((uv - centre) ** 2).sum(axis=1)
        return np.exp(-d2 / (2 * sigma * sigma))

    upper_outer, lower_outer = list(L.LIP_UPPER_OUTER), list(L.LIP_LOWER_OUTER)
    upper_inner, lower_inner = list(L.LIP_UPPER_INNER), list(L.LIP_LOWER_INNER)
    corners = {s: uv[L.MOUTH_CORNER[s]] for s in L.SIDES}
    mouth_c = (uv[13] + uv[14]) / 2
    half_w = max(0.15, abs(corners["Left"][0] - corners["Right"][0]) / 2)
    lips = np.zeros(n, bool)
    lips[upper_outer + lower_outer + upper_inner + lower_inner] = True
    upper = np.zeros(n, bool)
    upper[upper_outer + upper_inner] = True
    lower = np.zeros(n, bool)
    lower[lower_outer + lower_inner] = True
    lower[[L.MOUTH_CORNER["Left"], L.MOUTH_CORNER["Right"], 78, 308]] = False
    upper[[L.MOUTH_CORNER["Left"], L.MOUTH_CORNER["Right"], 78, 308]] = False
    side = {"Left": smoothstep(-0.6, 0.6, (u - mouth_c[0]) / half_w)}
    side["Right"] = 1.0 - side["Left"]

    # jaw: everything under the lip seam drops; the jaw line and cheeks follow less the higher
    # and the further out they are
    seam_u = np.concatenate([uv[upper_inner, 0], uv[lower_inner, 0]])
    seam_v = np.concatenate([uv[upper_inner, 1], uv[lower_inner, 1]])
    order = np.argsort(seam_u)
    seam = np.interp(u, seam_u[order], seam_v[order])
    chin_v = uv[L.CHIN, 1]
    top_v = uv[L.NOSE_BASE, 1]
    ramp = smoothstep(top_v, (mouth_c[1] + chin_v) / 2, v)
    lateral = smoothstep(half_w * 0.9, half_w * 1.6, np.abs(u - mouth_c[0]))
    below = v > seam
    jaw = np.where(below, np.maximum(ramp, 1.0 - lateral), 0.6 * lateral * ramp)
    across = np.clip(np.abs(u - mouth_c[0]) / half_w, 0.0, 1.0)
    jaw[lower] = (0.5 + 0.5 * (1.0 - across ** 2))[lower]  # the lips part in an oval, not a box
    jaw[upper] = 0.0
    for s in L.SIDES:
        jaw[L.MOUTH_CORNER[s]] = 0.45
    jaw[[78, 308]] = 0.5
    jaw[np.abs(u) > 2.5] = 0.0
    jaw[468:] = 0.0
    # a dropped jaw draws the mouth's corners in: the opening is tall, not a wide grin (the
    # face reader took a smiling portrait's wide opening for a smile)
    draw_in = -(u - mouth_c[0]) * gauss(mouth_c, 1.2 * half_w) * np.where(below | lower, 0.0, 1.0)
    for s in L.SIDES:
        draw_in[L.MOUTH_CORNER[s]] = -(u[L.MOUTH_CORNER[s]] - mouth_c[0]) * 0.6
    draw_in[468:] = 0.0
    add("jawOpen", np.stack([0.12 * draw_in, JAW_TRAVEL * jaw], axis=1))
    add("jawLeft", np.stack([0.12 * jaw, np.zeros(n)], axis=1))
    add("jawRight", np.stack([-0.12 * jaw, np.zeros(n)], axis=1))

    # lips
    lip_near = gauss(mouth_c, 0.35)
    lip_w = gauss(mouth_c, 1.1 * half_w)  # smooth: a step at the lips' edge would fold the skin
    lower_lip = np.where(lower, 1.0, 0.0)
    lower_soft = np.where(below, lip_near * 0.5, 0.0)
    lower_soft[lower] = 1.0
    upper_soft = np.where(~below & (v < seam), lip_near * 0.85, 0.0)  # the skin above follows the lip
    upper_soft[upper] = 1.0
    for s in L.SIDES:
        out = 1.0 if s == "Left" else -1.0
        c = corners[s]
        near = gauss(c, 0.28)
        near[468:] = 0.0
        # the depressor pulls the corner itself, not the lips' middle: narrow along the lips,
        # but tall, so the skin above and below the corner goes down with it (a round field
        # strong enough to read tore the cheek beside the corner)
        corner = np.exp(-((u - c[0]) ** 2) / (2 * 0.16 ** 2) - ((v - c[1]) ** 2) / (2 * 0.26 ** 2))
        corner[468:] = 0.0
        add(f"mouthSmile{s}", np.stack([0.14 * out * near, -0.16 * near], axis=1))
        add(f"mouthFrown{s}", np.stack([0.08 * out * corner, 0.24 * corner], axis=1))
        add(f"mouthStretch{s}", np.stack([0.24 * out * near, 0.14 * near], axis=1))
        add(f"mouthDimple{s}", np.stack([0.06 * out * near, -0.01 * near], axis=1))
        add(f"mouthLowerDown{s}", np.stack([np.zeros(n), 0.16 * lower_soft * side[s]], axis=1))
        add(f"mouthUpperUp{s}", np.stack([np.zeros(n), -0.15 * upper_soft * side[s]], axis=1))
        add(f"mouthPress{s}", np.stack([0.03 * out * near, np.zeros(n)], axis=1))
    add("mouthLeft", np.stack([0.12 * lip_w, np.zeros(n)], axis=1))
    add("mouthRight", np.stack([-0.12 * lip_w, np.zeros(n)], axis=1))
    narrow = -(u - mouth_c[0]) * lip_w
    add("mouthPucker", np.stack([0.42 * narrow, 0.02 * (v - mouth_c[1]) * lip_w], axis=1))
    opening = np.where(lower, 0.07, 0.0) - np.where(upper, 0.05, 0.0)
    add("mouthFunnel", np.stack([0.3 * narrow, opening * (1 - np.abs(u - mouth_c[0]) / (half_w * 1.2)).clip(0)],
                                axis=1))
    add("mouthClose", np.stack([np.zeros(n), -JAW_TRAVEL * lower_lip], axis=1))
    thick_lower = (_curve(uv, L.LIP_LOWER_OUTER)(u) - _curve(uv, L.LIP_LOWER_INNER)(u))
    thick_upper = (_curve(uv, L.LIP_UPPER_INNER)(u) - _curve(uv, L.LIP_UPPER_OUTER)(u))
    roll_l = np.zeros(n)
    roll_l[lower_outer] = -0.5 * thick_lower[lower_outer]
    roll_u = np.zeros(n)
    roll_u[upper_outer] = 0.5 * thick_upper[upper_outer]
    add("mouthRollLower", np.stack([np.zeros(n), roll_l], axis=1))
    add("mouthRollUpper", np.stack([np.zeros(n), roll_u], axis=1))
    for s in L.SIDES:  # pressed lips show less red, the lower lip most (it is pushed up)
        add(f"mouthPress{s}", np.stack([np.zeros(n), (0.6 * roll_u + 0.8 * roll_l) * side[s]], axis=1))
    # the chin raiser pushes the chin and the lower lip up, and the closed upper lip with them
    # (less, so the mouth's middle rises into an arch over corners that stay)
    boss = gauss(mouth_c + (0, 0.2), 0.3)
    shrug = np.where(below | lower, boss, 0.4 * boss * upper_soft)
    shrug[468:] = 0.0
    add("mouthShrugLower", np.stack([np.zeros(n), -0.1 * shrug], axis=1))
    add("mouthShrugUpper", np.stack([np.zeros(n), -0.04 * upper_soft], axis=1))
    gap = np.zeros(n)
    gap_upper = _curve(uv, L.LIP_UPPER_INNER)
    gap_lower = _curve(uv, L.LIP_LOWER_INNER)
    mid = (gap_upper(u) + gap_lower(u)) / 2
    gap[upper_inner] = (mid - v)[upper_inner]
    gap[lower_inner] = (mid - v)[lower_inner]
    add("seal", np.stack([np.zeros(n), gap], axis=1))

    # cheeks, nose
    for s in L.SIDES:
        out = 1.0 if s == "Left" else -1.0
        cheek = uv[L.CHEEK[s]]
        near = gauss(cheek + (0, -0.15), 0.3)
        add(f"cheekSquint{s}", np.stack([np.zeros(n), -0.07 * near], axis=1))
        wing = gauss(uv[L.NOSE_WING[s]], 0.15)
        add(f"noseSneer{s}", np.stack([-0.01 * out * wing, -0.06 * wing], axis=1))
    puff = gauss(uv[L.CHEEK["Left"]], 0.35) - gauss(uv[L.CHEEK["Right"]], 0.35)
    add("cheekPuff", np.stack([0.07 * puff, np.zeros(n)], axis=1))

    # brows and lids
    for s in L.SIDES:
        out = 1.0 if s == "Left" else -1.0
        up_idx, low_idx = list(L.EYE_UPPER[s]), list(L.EYE_LOWER[s])
        lid = np.zeros(n, bool)
        lid[up_idx + low_idx] = True
        upper_v = _curve(uv, L.EYE_UPPER[s])
        lower_v = _curve(uv, L.EYE_LOWER[s])
        brow_c = uv[list(L.BROW[s])].mean(axis=0)
        # how far each point moves with the brow, by its height above the upper lid: fully from
        # halfway up to the brow, in proportion below that, a little on the lid, fading to
        # nothing under the eye. Gates that stepped from lid to skin (the lid 0.12, the skin above 1.0, the
        # skin below 0.3) folded the warp and tore the picture into a ragged outline around the
        # eye. A raised brow stretches the lid's fold; a lowered one compresses it evenly (its
        # ramp runs to the brow's top edge, so nothing is pushed over the lid: the warp cannot
        # show skin hooding over skin) and leaves the lid where it is.
        height = upper_v(u) - v
        brow_low, brow_top = _curve(uv, L.BROW[s][:5]), _curve(uv, L.BROW[s][5:])
        half_way = np.maximum(0.03, 0.5 * (upper_v(u) - brow_low(u)))  # lid to brow, halfway
        lift = np.where(height >= 0, 0.12 + 0.88 * np.clip(height / half_way, 0.0, 1.0),
                        0.12 * np.clip(1.0 + height / 0.3, 0.0, 1.0))
        inner = gauss(uv[L.BROW_INNER[s]], 0.22) * lift
        outer = gauss(uv[L.BROW_OUTER[s]], 0.25) * lift
        span = np.maximum(0.05, upper_v(u) - brow_top(u))
        lowered = gauss(brow_c, 0.3) * np.clip(height / span, 0.0, 1.0)  # moves with a lowered brow
        drop = np.minimum(0.2, 0.75 * span - 0.04)  # with browDown's 0.04, under 0.8 of the span
        add("browInnerUp", np.stack([np.zeros(n), -0.22 * inner], axis=1))
        add(f"browOuterUp{s}", np.stack([np.zeros(n), -0.18 * outer], axis=1))
        add(f"browDown{s}", np.stack([-0.1 * out * lowered, 0.04 * lowered], axis=1))
        add(f"browLower{s}", np.stack([np.zeros(n), drop * lowered], axis=1))

        meet = lower_v(u) - 0.2 * (lower_v(u) - upper_v(u))
        travel = np.maximum(0.0, lower_v(u) - upper_v(u))
        eye_c = uv[up_idx + low_idx].mean(axis=0)
        eye_w = np.ptp(uv[up_idx, 0])
        within = np.abs(u - eye_c[0]) < eye_w * 0.55
        crease = within & (v < upper_v(u)) & (v > upper_v(u) - 0.25) & ~lid
        falloff = np.exp(-((upper_v(u) - v) / 0.12) ** 2)
        blink = np.zeros(n)
        blink[up_idx] = (meet - v)[up_idx]
        blink[low_idx] = (meet - v)[low_idx]
        blink[crease] = (0.55 * travel * falloff)[crease]
        add(f"eyeBlink{s}", np.stack([np.zeros(n), blink], axis=1))
        squint = np.zeros(n)
        squint[low_idx] = -0.38 * travel[low_idx]
        squint[up_idx] = 0.1 * travel[up_idx]
        add(f"eyeSquint{s}", np.stack([np.zeros(n), squint], axis=1))
        wide = np.zeros(n)
        wide[up_idx] = -0.8 * travel[up_idx]
        wide[crease] = (-0.55 * travel * falloff)[crease]
        add(f"eyeWide{s}", np.stack([np.zeros(n), wide], axis=1))
        for k in (L.EYE_UPPER[s][0], L.EYE_UPPER[s][-1]):  # the corners stay
            for name in (f"eyeBlink{s}", f"eyeSquint{s}", f"eyeWide{s}"):
                B[C_INDEX[name], k] = 0.0
    B[:, 468:] = 0.0  # the iris moves with gaze, in the dense field
    return f.vectors_to_px(B).astype(np.float32), f


# Expressions the photo itself may wear that the rig counts from: a portrait that already smiles
# would otherwise smile twice as wide when the agent smiles, and never look sad.
OWN_EXPRESSION = ("mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
                  "browInnerUp", "browDownLeft", "browDownRight", "browOuterUpLeft", "browOuterUpRight")
OWN_SHARE = 0.6  # of the photo's own expression taken back (all of it distorts a toothy smile)


def own_expression(blendshapes: np.ndarray) -> np.ndarray:
    """(52,) what to subtract from every frame's weights for a photo showing ``blendshapes``."""
    out = np.zeros(len(BLENDSHAPES), np.float32)
    for name in OWN_EXPRESSION:
        out[INDEX[name]] = OWN_SHARE * float(blendshapes[INDEX[name]])
    return out


def effective_weights(weights: np.ndarray, own: np.ndarray | None = None, sealed: float = 0.0) -> np.ndarray:
    """(N, 52) FaceState weights → (N, C) channel weights (adds the derived ``seal``), counted
    from the photo's own expression ``own``; ``sealed`` closes the photo's own parted lips."""
    w = np.array(weights, np.float32).reshape(-1, len(BLENDSHAPES))  # a copy: adjusted below
    if own is not None:
        w = w - own
    press = (w[:, INDEX["mouthPressLeft"]] + w[:, INDEX["mouthPressRight"]]) / 2
    seal = np.clip(sealed + 1.6 * press + 4.0 * w[:, INDEX["mouthClose"]] + 0.8 * w[:, INDEX["mouthRollLower"]]
                   + 0.6 * w[:, INDEX["mouthPucker"]], 0.0, 1.0)
    # pressed lips hardly pucker: the lip tightener's pucker narrowed a pressed mouth into a
    # pout that a face reader took for one
    w[:, INDEX["mouthPucker"]] *= 1.0 - 0.75 * np.clip(press, 0.0, 1.0)
    lift = np.clip(w[:, INDEX["browInnerUp"]], 0.0, 1.0)
    lower = [w[:, INDEX[f"browDown{s}"]] * (1.0 - 0.8 * lift) for s in ("Left", "Right")]
    # an upper lid raised under a lowered brow would be pushed into the lid's fold coming down
    # (the warp folds there and tears the picture); the glare keeps the lid where it is
    for s, down in zip(("Left", "Right"), lower):
        w[:, INDEX[f"eyeWide{s}"]] *= 1.0 - np.clip(down, 0.0, 1.0)
    return np.stack([*w.T, seal, *lower], axis=1)


def gaze_vector(weights: np.ndarray, gaze: np.ndarray, side: str) -> np.ndarray:
    """(N, 2) eye direction in [-1, 1], toward the image's right / up, as the drawn rig reads it."""
    w = np.asarray(weights).reshape(-1, len(BLENDSHAPES))

    def g(name: str) -> np.ndarray:
        return w[:, INDEX[name + side]]

    if side == "Left":
        h = g("eyeLookOut") - g("eyeLookIn")
    else:
        h = g("eyeLookIn") - g("eyeLookOut")
    vv = g("eyeLookUp") - g("eyeLookDown")
    h = np.clip(h + gaze[:, 0] / 0.5, -1.0, 1.0)
    vv = np.clip(vv + gaze[:, 1] / 0.4, -1.0, 1.0)
    return np.stack([h, vv], axis=1)


def soft_limit(x: np.ndarray, limit: float) -> np.ndarray:
    return limit * np.tanh(np.asarray(x, np.float64) / limit)


def head_motion(points3: np.ndarray, pivot: np.ndarray, head: np.ndarray, shift_px: np.ndarray) -> np.ndarray:
    """(N, V, 2) displacement of ``points3`` (V, 3) turned by ``head`` (N, 3: pitch, yaw, roll,
    viewer convention) about ``pivot`` and shifted by ``shift_px`` (N, 2)."""
    pitch, yaw, roll = (soft_limit(head[:, i], HEAD_LIMITS[i])[:, None] for i in range(3))
    d = points3[None].astype(np.float64) - pivot
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    x1 = x * np.cos(yaw) - z * np.sin(yaw)
    z1 = x * np.sin(yaw) + z * np.cos(yaw)
    y1 = y * np.cos(pitch) + z1 * np.sin(pitch)
    x2 = x1 * np.cos(roll) - y1 * np.sin(roll)
    y2 = x1 * np.sin(roll) + y1 * np.cos(roll)
    out = np.stack([x2 - x, y2 - y], axis=-1) + shift_px[:, None, :]
    return out.astype(np.float32)
