"""The VAD emotion space: a point in Valence-Arousal-Dominance, its label and intensity.

Prototype coordinates are Russell & Mehrabian (1977) as used by PELD (Wen et al. 2021); a label
is the nearest prototype (Euclidean). Intensity is the distance from neutral, scaled so that the
farthest basic prototype (fear) has intensity 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LABELS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")

PROTOTYPES: dict[str, tuple[float, float, float]] = {
    "anger": (-0.51, 0.59, 0.25),
    "disgust": (-0.60, 0.35, 0.11),
    "fear": (-0.62, 0.82, -0.43),
    "joy": (0.81, 0.51, 0.46),
    "neutral": (0.0, 0.0, 0.0),
    "sadness": (-0.63, -0.27, -0.33),
    "surprise": (0.40, 0.67, -0.13),
}

PROTOTYPE_MATRIX = np.array([PROTOTYPES[k] for k in LABELS], dtype=np.float32)
MAX_NORM = float(np.linalg.norm(PROTOTYPE_MATRIX, axis=1).max())

# Mehrabian's octants name moods by the signs of V, A, D.
OCTANTS = {
    (1, 1, 1): "exuberant", (-1, -1, -1): "bored", (1, 1, -1): "dependent",
    (-1, -1, 1): "disdainful", (1, -1, 1): "relaxed", (-1, 1, -1): "anxious",
    (1, -1, -1): "docile", (-1, 1, 1): "hostile",
}


def clip_vad(vad: tuple[float, float, float] | np.ndarray) -> tuple[float, float, float]:
    v, a, d = (float(np.clip(x, -1.0, 1.0)) for x in vad)
    return (v, a, d)


def nearest_label(vad: tuple[float, float, float] | np.ndarray) -> str:
    dist = np.linalg.norm(PROTOTYPE_MATRIX - np.asarray(vad, dtype=np.float32), axis=1)
    return LABELS[int(np.argmin(dist))]


@dataclass(frozen=True, slots=True)
class Emotion:
    """An emotion state: VAD point (each axis in [-1, 1]), nearest label, intensity in [0, 1]."""

    vad: tuple[float, float, float]
    label: str
    intensity: float

    @classmethod
    def from_vad(cls, vad: tuple[float, float, float] | np.ndarray) -> Emotion:
        vad = clip_vad(vad)
        intensity = min(1.0, math.sqrt(sum(x * x for x in vad)) / MAX_NORM)
        return cls(vad, nearest_label(vad), intensity)

    @classmethod
    def from_label(cls, label: str, intensity: float = 1.0) -> Emotion:
        """The prototype of ``label`` moved toward neutral by ``intensity`` (0..1)."""
        if label not in PROTOTYPES:
            raise ValueError(f"unknown emotion {label!r}; known: {', '.join(LABELS)}")
        if not 0.0 <= intensity <= 1.0:
            raise ValueError(f"intensity must be in [0, 1], got {intensity}")
        proto = PROTOTYPES[label]
        vad = clip_vad(np.asarray(proto) * intensity)
        norm = math.sqrt(sum(x * x for x in vad))
        return cls(vad, label, min(1.0, norm / MAX_NORM))

    @classmethod
    def neutral(cls) -> Emotion:
        return cls((0.0, 0.0, 0.0), "neutral", 0.0)

    @property
    def mood(self) -> str:
        """Mehrabian's octant name for this point (``neutral`` at the origin)."""
        if all(abs(x) < 1e-6 for x in self.vad):
            return "neutral"
        return OCTANTS[tuple(1 if x >= 0 else -1 for x in self.vad)]  # type: ignore[index]

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "vad": [round(x, 4) for x in self.vad],
                "intensity": round(self.intensity, 4)}


def parse_emotion(text: str) -> Emotion:
    """``"joy"``, ``"joy:0.5"`` or ``"V,A,D"`` (as on the command line)."""
    text = text.strip()
    if "," in text:
        try:
            parts = [float(x) for x in text.split(",")]
        except ValueError:
            parts = []
        if len(parts) != 3 or any(not -1.0 <= x <= 1.0 for x in parts):
            raise ValueError(f"emotion {text!r}: expected three numbers in [-1, 1] as V,A,D")
        return Emotion.from_vad(np.asarray(parts))
    label, _, inten = text.partition(":")
    return Emotion.from_label(label, float(inten) if inten else 1.0)
