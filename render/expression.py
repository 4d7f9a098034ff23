"""Emotion → FACS action units → ARKit blendshapes, with eased onsets and a living hold.

Action units follow the EMFACS prototypes (../shared/REFERENCE.md): happiness 6+12, sadness
1+4+15, surprise 1+2+5B+26, fear 1+2+4+5+7+20+26, anger 4+5+7+23, disgust 9+15+16, contempt
one-sided 12A+14A. An emotion's AUs are a blend of the prototypes weighted by how close the
emotion's *direction* in VAD is to each (a softmax over negative distances), scaled by its
intensity — so "a little sad" is a weak sadness face, not a mix of sadness and neutral.

AUs are kept per side, shape (2, len(AUS)) = [face's left, face's right], because real
expressions can be one-sided (a crooked smile, contempt, one raised eyebrow).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.core.face_state import BLENDSHAPES, INDEX
from persona.emotion import PROTOTYPES, Emotion
from render.idle import Approach, SmoothNoise

AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24,
                        25, 26, 28, 34, 43)
AU_INDEX: dict[int, int] = {au: i for i, au in enumerate(AUS)}
LEFT, RIGHT = 0, 1

# EMFACS prototypes at full intensity (0..1; letter grades A trace .. E maximum ≈ .2 .. 1).
EMFACS: dict[str, dict[int, float]] = {
    "joy": {6: 0.7, 12: 0.9, 25: 0.2},
    "sadness": {1: 0.9, 4: 0.4, 15: 0.8, 17: 0.3},
    "surprise": {1: 0.9, 2: 0.9, 5: 0.4, 26: 0.7},
    "fear": {1: 0.8, 2: 0.6, 4: 0.5, 5: 0.8, 7: 0.35, 20: 0.8, 26: 0.5},
    "anger": {4: 0.9, 5: 0.45, 7: 0.85, 17: 0.5, 23: 0.7, 24: 0.6},
    "disgust": {9: 0.8, 10: 0.5, 15: 0.5, 16: 0.5},
    "neutral": {},
}
CONTEMPT_LEFT: dict[int, float] = {12: 0.25, 14: 0.25}  # one-sided 12A+14A (no VAD prototype)

# AU → blendshapes (conventional ARKit correspondence, REFERENCE.md). A name without a side
# belongs to the face's midline and takes half of each side's AU.
_AU_TO_SHAPES: dict[int, tuple[tuple[str, float], ...]] = {
    1: (("browInnerUp", 1.0),),
    2: (("browOuterUp", 1.0),),
    4: (("browDown", 1.0),),
    5: (("eyeWide", 1.0),),
    6: (("cheekSquint", 1.0), ("eyeSquint", 0.25)),
    7: (("eyeSquint", 1.0),),
    9: (("noseSneer", 1.0), ("mouthUpperUp", 0.25)),
    10: (("mouthUpperUp", 1.0),),
    12: (("mouthSmile", 1.0),),
    14: (("mouthDimple", 1.0),),
    15: (("mouthFrown", 1.0),),
    16: (("mouthLowerDown", 1.0),),
    17: (("mouthShrugLower", 1.0), ("mouthShrugUpper", 0.3)),
    18: (("mouthPucker", 1.0),),
    19: (("tongueOut", 1.0),),
    20: (("mouthStretch", 1.0),),
    22: (("mouthFunnel", 1.0),),
    23: (("mouthPress", 0.6), ("mouthPucker", 0.4)),
    24: (("mouthPress", 1.0),),
    25: (("jawOpen", 0.12), ("mouthLowerDown", 0.15)),
    26: (("jawOpen", 0.6),),
    28: (("mouthRollLower", 1.0), ("mouthRollUpper", 1.0)),
    34: (("cheekPuff", 1.0),),
    43: (("eyeBlink", 1.0),),
}


def _mapping_matrix() -> np.ndarray:
    m = np.zeros((len(BLENDSHAPES), 2 * len(AUS)), dtype=np.float32)
    for au, shapes in _AU_TO_SHAPES.items():
        col = AU_INDEX[au]
        for name, gain in shapes:
            if name in INDEX:  # midline shape
                m[INDEX[name], col] += 0.5 * gain
                m[INDEX[name], len(AUS) + col] += 0.5 * gain
            else:
                m[INDEX[name + "Left"], col] += gain
                m[INDEX[name + "Right"], len(AUS) + col] += gain
    return m


AU_TO_BLENDSHAPES = _mapping_matrix()


def au_vector(mapping: dict[int, float], side: str = "both") -> np.ndarray:
    """A (2, len(AUS)) AU array from ``{au: intensity}``; ``side`` is both, left or right."""
    out = np.zeros((2, len(AUS)), dtype=np.float32)
    rows = {"both": (LEFT, RIGHT), "left": (LEFT,), "right": (RIGHT,)}[side]
    for au, value in mapping.items():
        for r in rows:
            out[r, AU_INDEX[au]] = value
    return out


def blendshapes_from_aus(aus: np.ndarray) -> np.ndarray:
    """(52,) float32 ARKit weights in [0, 1] from a (2, len(AUS)) AU array."""
    return np.clip(AU_TO_BLENDSHAPES @ np.asarray(aus, dtype=np.float32).reshape(-1), 0.0, 1.0)


_EMOTIONS = tuple(k for k in EMFACS if k != "neutral")
_DIRECTIONS = np.array([PROTOTYPES[k] for k in _EMOTIONS], dtype=np.float64)
_DIRECTIONS /= np.linalg.norm(_DIRECTIONS, axis=1, keepdims=True)
_PROTO_AUS = np.stack([au_vector(EMFACS[k]) for k in _EMOTIONS])  # (6, 2, n)
_NORMS = {k: float(np.linalg.norm(PROTOTYPES[k])) for k in _EMOTIONS}
BLEND_TEMPERATURE = 0.12  # softmax temperature over distances between unit VAD directions


def prototype_weights(vad: tuple[float, float, float]) -> dict[str, float]:
    """How much each basic emotion's face contributes to an emotion at ``vad``."""
    v = np.asarray(vad, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    if norm < 1e-6:
        return {k: 0.0 for k in _EMOTIONS}
    d = np.linalg.norm(_DIRECTIONS - v / norm, axis=1)
    w = np.exp(-(d - d.min()) / BLEND_TEMPERATURE)
    return dict(zip(_EMOTIONS, (w / w.sum()).tolist(), strict=True))


def expression_amplitude(vad: tuple[float, float, float]) -> float:
    """How far along its direction an emotion is, 0 (neutral) .. 1 (the prototype itself).

    Measured against the blended prototypes' own distance from neutral rather than the
    farthest prototype's, so that every label at full strength shows its full face: anger's
    prototype is nearer neutral than fear's, and would otherwise never show more than 73%.
    """
    weights = prototype_weights(vad)
    reach = sum(weights[k] * _NORMS[k] for k in _EMOTIONS)
    if reach <= 0.0:
        return 0.0
    return float(np.clip(np.linalg.norm(np.asarray(vad, dtype=np.float64)) / reach, 0.0, 1.0))


def emotion_aus(emotion: Emotion, expressivity: float = 1.0) -> np.ndarray:
    """The face of ``emotion``: prototypes blended by VAD direction, scaled by how far along
    that direction it is.

    The amplitude is lifted by a power below one so mild emotions still show (people read a
    faint smile; a linear scale would leave it invisible), and stays graded: 0.3 of an
    emotion shows 41% of its face, 0.5 shows 59%.
    """
    weights = prototype_weights(emotion.vad)
    blend = np.tensordot(np.array([weights[k] for k in _EMOTIONS], dtype=np.float32),
                         _PROTO_AUS, axes=1)
    amplitude = expression_amplitude(emotion.vad) ** 0.75 * expressivity
    return np.clip(blend * amplitude, 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------- timing


def onset_time(arousal: float) -> float:
    """Seconds an expression takes to appear: quick when aroused, slow when calm."""
    return float(np.clip(0.45 - 0.25 * arousal, 0.18, 0.75))


def offset_time(arousal: float) -> float:
    """Seconds an expression takes to fade: offsets are slower than onsets."""
    return float(np.clip(0.9 - 0.4 * arousal, 0.4, 1.3))


class ExpressionTrack(Approach):
    """AU targets over time, each change eased in (rising AUs at the onset time, falling AUs
    at the offset time) from wherever the face was when the change was asked for."""

    def __init__(self, initial: np.ndarray) -> None:
        super().__init__(initial, np.float32)

    def set(self, t: float, target: np.ndarray, arousal: float) -> None:
        start = self.value(t)
        target = np.asarray(target, dtype=np.float32)
        durations = np.where(target >= start, onset_time(arousal), offset_time(arousal))
        self._change(t, start, target, durations.astype(np.float32))

    def _approach(self, dt: float, start: np.ndarray, target: np.ndarray, params: Any) -> np.ndarray:
        x = np.clip(dt / params, 0.0, 1.0)  # params: per-AU durations
        k = x * x * (3.0 - 2.0 * x)
        return start + (target - start) * k


class MicroMotion:
    """Slow, small fluctuations of every AU so a held expression never freezes.

    The amplitude grows with how strongly an AU is held (a held smile wavers more than a
    relaxed mouth), and both sides move together with a little independent play.
    """

    def __init__(self, seed: int, amount: float = 1.0) -> None:
        self._shared = SmoothNoise(len(AUS), [seed, 31], 0.08, 0.5)
        self._sides = SmoothNoise(2 * len(AUS), [seed, 32], 0.1, 0.6)
        self.amount = amount
        # the tongue, cheek puff and blink never drift on their own
        self._mask = np.array([au not in (19, 28, 34, 43) for au in AUS], dtype=np.float32)

    def __call__(self, t: float, aus: np.ndarray) -> np.ndarray:
        scale = self.amount * self._mask * (0.01 + 0.04 * aus)
        noise = self._shared(t)[None, :] + 0.3 * self._sides(t).reshape(2, -1)
        return np.clip(aus + scale * noise, 0.0, 1.0)
