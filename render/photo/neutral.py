"""Taking a portrait's own expression back, so the rig counts from a neutral face.

A smiling photo would otherwise smile under every emotion: the warp adds the agent's face to the
one the picture already wears. The portrait is read once, then a few times more while the take-back
is adjusted in closed loop: the neutral frame is rendered, FaceLandmarker reads it, and each
expressive blendshape that still reads above ``TOLERANCE`` is taken back further, until it reads
neutral, the warp would squeeze part of the face past ``SQUEEZE_LIMIT`` (where a warp stops
looking like skin and starts looking smeared), or ``LIMIT`` is reached. What could not be taken
back is said once, in the log, with the amount; nothing is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.core.face_state import BLENDSHAPES, INDEX, FaceState

log = logging.getLogger(__name__)

# Blendshapes that carry expression (not the eyes' aperture or the lips' rest: MediaPipe reads
# eyeSquint 0.6 and mouthPress 0.2 on neutral real faces too).
EXPRESSIVE = ("mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
              "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight",
              "mouthStretchLeft", "mouthStretchRight", "mouthDimpleLeft", "mouthDimpleRight",
              "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight")
# Parted lips are what a smile that shows teeth leaves once its corners are taken back: a
# neutral face has its lips together, so they are sealed (the rig's ``seal`` closes the inner
# lips over the teeth), and the lip raiser's and lowerer's take-back is then left to the loop.
LIPS_APART = 0.03  # inner-lip gap (eye distances) above which the portrait's lips are sealed
PARTING = ("mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight")
TOLERANCE = 0.12  # a neutral face may read this much of any expressive blendshape
TARGET = 0.05  # what the take-back aims for
LIMIT = 1.5  # at most this much of a channel is taken back (its full motion and half again)
SQUEEZE_LIMIT = 0.1  # no skin triangle may shrink below this share of its area (a smear shows)
STEPS = 6


@dataclass
class Neutralised:
    """What the portrait showed, what its neutral frame reads after the take-back, and which
    blendshapes the take-back had to stop short on."""

    before: dict[str, float]
    after: dict[str, float]
    own: np.ndarray  # (52,) weights taken back from every frame
    squeeze: float  # the smallest area share of a skin triangle in the neutral frame
    short: list[str] = field(default_factory=list)
    sealed: bool = False  # the portrait's parted lips are closed in every frame

    def describe(self) -> str:
        shown = {k: v for k, v in self.before.items() if v > TOLERANCE}
        lips = "; its parted lips closed" if self.sealed else ""
        if not shown:
            return f"the portrait is neutral already{lips}"
        parts = ", ".join(f"{k} {v:.2f} -> {self.after.get(k, 0.0):.2f}" for k, v in shown.items())
        return f"the portrait's own expression taken back ({parts}; smallest skin area {self.squeeze:.2f}){lips}"


def _expressive(blendshapes: np.ndarray) -> dict[str, float]:
    return {n: float(blendshapes[INDEX[n]]) for n in EXPRESSIVE}


def neutralise(renderer: Any, landmarker: Any, blendshapes: np.ndarray) -> Neutralised:
    """Find the weights to take back from every frame of ``renderer`` (a ``PhotoRenderer``
    whose portrait reads ``blendshapes``) so that its neutral frame reads neutral."""
    before = _expressive(blendshapes)
    own = np.zeros(len(BLENDSHAPES), np.float32)
    sealed = renderer.lips_apart() > LIPS_APART
    renderer.set_sealed(1.0 if sealed else 0.0)
    active = [n for n, v in before.items() if v > TOLERANCE]
    if not active:
        return Neutralised(before, before, own, 1.0, sealed=sealed)
    for n in active:  # a first guess: the rig's channels read back at about their weight
        if not (sealed and n in PARTING):
            own[INDEX[n]] = before[n] - TARGET
    after, squeeze = before, 1.0
    for _ in range(STEPS):
        renderer.set_own(own)
        squeeze = float(renderer.squeeze([FaceState()])[0])
        if squeeze < SQUEEZE_LIMIT:  # too far: back off to the last state that looked like skin
            own = _back_off(renderer, own, active)
            squeeze = float(renderer.squeeze([FaceState()])[0])
            break
        faces = landmarker.detect(renderer.render([FaceState()])[0])
        if not faces:
            break
        after = _expressive(faces[0].blendshapes)
        left = [n for n in active if after[n] > TOLERANCE]
        if not left:
            break
        for n in left:
            own[INDEX[n]] = min(LIMIT, own[INDEX[n]] + (after[n] - TARGET))
    renderer.set_own(own)
    faces = landmarker.detect(renderer.render([FaceState()])[0])
    if faces:
        after = _expressive(faces[0].blendshapes)
    short = [n for n in active if after[n] > TOLERANCE]
    result = Neutralised(before, after, own, squeeze, short, sealed)
    if short:
        log.warning("photo avatar: the portrait's own %s can only be taken back to %s before the warp "
                    "smears the face; expressions will keep some of it (a portrait with a neutral "
                    "face works best)", ", ".join(f"{n} {before[n]:.2f}" for n in short),
                    ", ".join(f"{after[n]:.2f}" for n in short))
    else:
        log.info("photo avatar: %s", result.describe())
    return result


def _back_off(renderer: Any, own: np.ndarray, active: list[str]) -> np.ndarray:
    """The largest share of ``own`` whose neutral frame keeps every skin triangle above
    ``SQUEEZE_LIMIT`` (bisection; the squeeze falls monotonically with the share)."""
    lo, hi = 0.0, 1.0
    for _ in range(6):
        mid = (lo + hi) / 2
        renderer.set_own(own * mid)
        if float(renderer.squeeze([FaceState()])[0]) >= SQUEEZE_LIMIT:
            lo = mid
        else:
            hi = mid
    return (own * lo).astype(np.float32)
