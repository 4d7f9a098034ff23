"""How the face listens while the user speaks: backchannel nods, a slight head tilt, and
subtle mirroring of the user's expression.

Listeners nod every few seconds while the other talks and mimic the other's expression a
fraction of a second later (facial mimicry, Dimberg 2000); agreeable people mimic more
(Sonnby-Borgström 2002), extraverts nod more and bigger. Gains here are design choices
kept small: mirroring is a hint, never a copy.
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

from agent.core.face_state import BLENDSHAPES
from persona.config import BigFive
from persona.emotion import Emotion
from render.expression import blendshapes_from_aus, emotion_aus
from render.idle import EventStream, Lag, nod_pulse

MIRROR_MAX_GAIN = 0.4  # share of the user's expression a fully agreeable persona takes on
MIRROR_DELAY_TAU = 0.6  # seconds: mimicry follows the other's face, it does not lead it
NOD_WIDTH = 0.36  # seconds of one downward nod
_MIRRORED = np.array([n.startswith(("brow", "eyeSquint", "eyeWide", "cheekSquint", "noseSneer",
                                    "mouthSmile", "mouthFrown", "mouthDimple"))
                      for n in BLENDSHAPES])
_SWAP = np.array([BLENDSHAPES.index(n.replace("Left", "\0").replace("Right", "Left")
                                    .replace("\0", "Right")) for n in BLENDSHAPES])


def mirror_target(blendshapes: np.ndarray | None, vad: tuple[float, float, float] | None) -> np.ndarray:
    """The part of the user's face worth mirroring, as (52,) weights.

    Only expressive shapes are taken (brows, eyes, cheeks, smile, frown), never the mouth's
    articulation, since the user is talking; both sides are averaged so a camera's left/right
    convention cannot put a smile on the wrong side. Without blendshapes, the face of the
    user's estimated affect stands in.
    """
    if blendshapes is not None:
        b = np.asarray(blendshapes, dtype=np.float32)
        if b.shape != (len(BLENDSHAPES),):
            raise ValueError(f"user blendshapes must be {len(BLENDSHAPES)} weights in ARKit order "
                             f"(agent.core.face_state.BLENDSHAPES), got shape {b.shape}")
        b = np.clip(np.nan_to_num(b), 0.0, 1.0)
        return np.where(_MIRRORED, 0.5 * (b + b[_SWAP]), 0.0).astype(np.float32)
    if vad is not None:
        return blendshapes_from_aus(emotion_aus(Emotion.from_vad(vad))) * _MIRRORED
    return np.zeros(len(BLENDSHAPES), dtype=np.float32)


class Listening:
    """Listening intervals with their nods, and the mirrored expression of the user."""

    def __init__(self, traits: BigFive, seed: int) -> None:
        self.traits = traits
        self.seed = seed
        self.gain = MIRROR_MAX_GAIN * traits.A
        self.mirror = Lag(np.zeros(len(BLENDSHAPES)), MIRROR_DELAY_TAU)
        self.presence = Lag(np.zeros(1), 0.25)  # 0 not listening .. 1 listening, eased
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._nods: list[EventStream[tuple[float, int]]] = []
        self._sessions = 0  # numbers each listening interval's own nod generator

    def set(self, listening: bool, t: float) -> None:
        open_ = bool(self._starts) and self._ends[-1] == math.inf
        if listening and not open_:
            self._starts.append(t)
            self._ends.append(math.inf)
            self._sessions += 1
            self._nods.append(self._nod_stream(t, self._sessions))
        elif not listening and open_:
            self._ends[-1] = max(t, self._starts[-1])
        self.presence.set(t, np.array([1.0 if listening else 0.0]))

    def is_listening(self, t: float) -> bool:
        i = bisect_right(self._starts, t) - 1
        return i >= 0 and t < self._ends[i]

    def set_user(self, t: float, blendshapes: np.ndarray | None,
                 vad: tuple[float, float, float] | None) -> None:
        self.mirror.set(t, mirror_target(blendshapes, vad))

    def _nod_stream(self, start: float, k: int) -> EventStream[tuple[float, int]]:
        per_min = 8.0 + 8.0 * self.traits.A + 4.0 * self.traits.E
        size = 0.025 + 0.03 * self.traits.E  # radians

        def step(t: float, rng: np.random.Generator) -> tuple[float, tuple[float, int]]:
            interval = math.exp(math.log(60.0 / per_min) - 0.08 + 0.4 * rng.standard_normal())
            return max(1.2, interval), (size * float(rng.uniform(0.7, 1.3)),
                                        2 if rng.random() < 0.35 else 1)

        first = 1.0 + float(np.random.default_rng([self.seed, 41, k]).uniform(0.0, 2.0))
        return EventStream([self.seed, 42, k], start + first, step, (size, 1))

    def nod(self, t: float) -> float:
        """Head pitch (radians, negative: down) from backchannel nods at ``t``."""
        i = bisect_right(self._starts, t) - 1
        if i < 0 or t >= self._ends[i]:
            return 0.0
        stream = self._nods[i]
        j = stream.upto(t)
        if j < 0:
            return 0.0
        size, count = stream.payloads[j]
        dt = t - stream.times[j]
        pulse = float(nod_pulse(dt, NOD_WIDTH))
        if count == 2:
            pulse += 0.6 * float(nod_pulse(dt - NOD_WIDTH, NOD_WIDTH))
        return -size * pulse

    def expression(self, t: float) -> np.ndarray:
        """(52,) weights to add: the mirrored user, faded in and out with listening."""
        weight = float(self.presence.value(t)[0])
        if weight < 1e-3 or self.gain <= 0.0:
            return np.zeros(len(BLENDSHAPES), dtype=np.float32)
        return (self.gain * weight * self.mirror.value(t)).astype(np.float32)

    def tilt(self, t: float) -> tuple[float, float, float]:
        """Listening posture (pitch, yaw, roll): a slight tilt of the head toward the speaker."""
        w = float(self.presence.value(t)[0])
        return (-0.015 * w, 0.0, 0.04 * w)

    def forget_before(self, t: float) -> None:
        i = bisect_right(self._ends, t)  # intervals that ended before t can go
        if i > 0:
            del self._starts[:i], self._ends[:i], self._nods[:i]
        for stream in self._nods:
            stream.forget_before(t)
        self.mirror.forget_before(t)
        self.presence.forget_before(t)
