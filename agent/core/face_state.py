"""``FaceState``: one frame of face parameters, the contract between animation, renderers and
robot plugins.

Blendshapes are Apple ARKit's 52 (the order Live Link Face uses); MediaPipe's FaceLandmarker
emits the same names (without ``tongueOut``, plus ``_neutral``). Angles are radians. Conventions
(as seen by a viewer looking at the face): head ``yaw`` > 0 turns the face toward the viewer's
right, ``pitch`` > 0 tilts it up, ``roll`` > 0 rotates it clockwise. ``gaze`` is (horizontal,
vertical) in radians, > 0 toward the viewer's right / up. ``t`` is seconds on the audio clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight", "tongueOut",
)
assert len(BLENDSHAPES) == 52
INDEX: dict[str, int] = {name: i for i, name in enumerate(BLENDSHAPES)}


def weights_from(mapping: dict[str, float]) -> np.ndarray:
    """A (52,) float32 weight vector from ``{name: weight}``; unknown names raise KeyError."""
    w = np.zeros(len(BLENDSHAPES), dtype=np.float32)
    for name, value in mapping.items():
        w[INDEX[name]] = value
    return np.clip(w, 0.0, 1.0)


@dataclass(frozen=True, slots=True)
class FaceState:
    t: float = 0.0
    weights: np.ndarray = field(default_factory=lambda: np.zeros(52, dtype=np.float32))
    head: tuple[float, float, float] = (0.0, 0.0, 0.0)  # pitch, yaw, roll (radians)
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)  # metres, x right, y up, z toward viewer
    gaze: tuple[float, float] = (0.0, 0.0)  # horizontal, vertical (radians)
    speaking: bool = False

    def __getitem__(self, name: str) -> float:
        return float(self.weights[INDEX[name]])

    def with_weights(self, **named: float) -> FaceState:
        w = self.weights.copy()
        for name, value in named.items():
            w[INDEX[name]] = np.clip(value, 0.0, 1.0)
        return replace(self, weights=w)

    def as_dict(self) -> dict[str, float]:
        return {name: round(float(v), 4) for name, v in zip(BLENDSHAPES, self.weights)}

    def to_dict(self) -> dict[str, object]:
        return {"t": round(self.t, 4), "blendshapes": self.as_dict(),
                "head": [round(x, 4) for x in self.head],
                "translation": [round(x, 4) for x in self.translation],
                "gaze": [round(x, 4) for x in self.gaze], "speaking": self.speaking}


def stack(states: list[FaceState]) -> dict[str, np.ndarray]:
    """A batch of states as arrays: weights (N, 52), head (N, 3), translation (N, 3), gaze (N, 2)."""
    return {
        "weights": np.stack([s.weights for s in states]).astype(np.float32),
        "head": np.array([s.head for s in states], dtype=np.float32),
        "translation": np.array([s.translation for s in states], dtype=np.float32),
        "gaze": np.array([s.gaze for s in states], dtype=np.float32),
    }
