"""From a batch of ``FaceState`` to the numbers the painter draws with.

The rig holds per-frame scalars as numpy arrays of shape (N,) (cheap, and used to pick the
pixel windows each feature needs) and hands them to torch as (N, 1, 1) tensors on request.
Sides are named as the viewer sees them: index 0 is the viewer's left, which is the
character's *Right* in ARKit names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.core.face_state import INDEX, FaceState

# depth of the head ellipsoid (head units); features ride on it when the head turns
DEPTH = 0.42
SIDES = ("Right", "Left")  # ARKit suffix of the viewer's left side, then of the viewer's right
SIGNS = (-1.0, 1.0)


@dataclass
class Projected:
    """A feature anchor after the head's yaw and pitch: position, depth and foreshortening."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    fx: np.ndarray
    fy: np.ndarray


class Rig:
    def __init__(self, states: Sequence[FaceState]) -> None:
        n = len(states)
        self.n = n
        self.w = np.stack([np.asarray(s.weights, dtype=np.float32) for s in states]).reshape(n, 52)
        self.w = np.clip(self.w, 0.0, 1.0)
        head = np.array([s.head for s in states], dtype=np.float32).reshape(n, 3)
        self.pitch = np.clip(head[:, 0], -0.6, 0.6)
        self.yaw = np.clip(head[:, 1], -0.7, 0.7)
        self.roll = np.clip(head[:, 2], -0.5, 0.5)
        tr = np.array([s.translation for s in states], dtype=np.float32).reshape(n, 3)
        self.tx = np.clip(tr[:, 0] * 6.0, -0.3, 0.3)
        self.ty = np.clip(tr[:, 1] * 6.0, -0.3, 0.3)
        self.scale = np.clip(1.0 + tr[:, 2] * 3.0, 0.75, 1.3)
        gaze = np.array([s.gaze for s in states], dtype=np.float32).reshape(n, 2)
        self.gaze_h, self.gaze_v = gaze[:, 0], gaze[:, 1]

    def __call__(self, name: str) -> np.ndarray:
        """One blendshape over the batch, (N,)."""
        return self.w[:, INDEX[name]]

    def side(self, base: str, k: int) -> np.ndarray:
        """A left/right blendshape on the viewer's side ``k`` (0 = viewer's left)."""
        return self.w[:, INDEX[base + SIDES[k]]]

    def mean(self, base: str) -> np.ndarray:
        return 0.5 * (self.w[:, INDEX[base + "Left"]] + self.w[:, INDEX[base + "Right"]])

    def project(self, x0: float | np.ndarray, y0: float | np.ndarray,
                z0: float | np.ndarray | None = None, head_w: float = 0.44,
                head_h: float = 0.5) -> Projected:
        """Where a point on (or ``z0`` in front of) the head lands after yaw and pitch."""
        x0 = np.asarray(x0, dtype=np.float32) + np.zeros(self.n, np.float32)
        y0 = np.asarray(y0, dtype=np.float32) + np.zeros(self.n, np.float32)
        if z0 is None:
            z0 = DEPTH * np.sqrt(np.clip(1.0 - (x0 / head_w) ** 2 - (y0 / head_h) ** 2, 0.0, 1.0))
        z0 = np.asarray(z0, dtype=np.float32) + np.zeros(self.n, np.float32)
        cy, sy = np.cos(self.yaw), np.sin(self.yaw)
        cp, sp = np.cos(self.pitch), np.sin(self.pitch)
        x1 = x0 * cy + z0 * sy
        z1 = -x0 * sy + z0 * cy
        y2 = y0 * cp + z1 * sp
        z2 = -y0 * sp + z1 * cp
        ax = np.arctan2(x0, np.maximum(z0, 1e-3))
        ay = np.arctan2(y0, np.maximum(z0, 1e-3))
        fx = np.clip(np.cos(ax + self.yaw) / np.maximum(np.cos(ax), 0.2), 0.2, 1.3)
        fy = np.clip(np.cos(ay + self.pitch) / np.maximum(np.cos(ay), 0.2), 0.3, 1.3)
        return Projected(x1, y2, z2, fx.astype(np.float32), fy.astype(np.float32))

    def gaze(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Where the pupil of eye ``k`` points, each in [-1, 1] (viewer's right, up)."""
        s = SIDES[k]
        if k == 1:  # character's left eye: looking out is toward the viewer's right
            h = self("eyeLookOutLeft") - self("eyeLookInLeft")
        else:
            h = self("eyeLookInRight") - self("eyeLookOutRight")
        v = self("eyeLookUp" + s) - self("eyeLookDown" + s)
        h = np.clip(h + self.gaze_h / 0.5, -1.0, 1.0)
        v = np.clip(v + self.gaze_v / 0.4, -1.0, 1.0)
        return h, v
