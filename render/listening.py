"""How the face listens while the user speaks: backchannel nods at the user's pauses, a
slight head tilt, and subtle mirroring of the user's own expression.

Listeners place their backchannels — a nod, a brief smile or raised brows — where the speaker
pauses at the end of a phrase (Ward & Tsukahara 2000: after a stretch of speech, in the pause
that follows), not on a clock; so nods answer the hearing stage's pauses (``pause``), a
moment after each, and not at every one: never two within ``MIN_NOD_GAP`` scaled by how much
this persona nods. Listeners also mimic the other's expression about half a second later
(facial mimicry, Dimberg 2000) — the user's own blendshapes when the camera sees them, else the
face of the user's estimated affect; agreeable people mimic more (Sonnby-Borgström 2002),
extraverts nod more and bigger. Gains here are design choices kept small: mirroring is a hint,
never a copy.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

import numpy as np

from agent.core.face_state import BLENDSHAPES
from persona.config import BigFive
from persona.emotion import Emotion
from render.expression import blendshapes_from_aus, emotion_aus
from render.idle import Lag, nod_pulse

MIRROR_MAX_GAIN = 0.4  # share of the user's expression a fully agreeable persona takes on
MIRROR_DELAY = 0.5  # seconds: mimicry follows the other's face, it does not lead it
MIRROR_EASE = 0.15  # seconds: ... and eases into it
NOD_WIDTH = 0.36  # seconds of one downward nod
NOD_LATENCY = 0.12  # seconds from hearing the pause to the nod's start
MIN_NOD_GAP = 2.5  # seconds between nods for a persona with average traits
OWN_FACE_HOLD = 1.0  # seconds the user's own blendshapes stand before an affect estimate may
# Backchannel expression with a nod (added weights): a brief closed smile and raised brows.
_BACKCHANNEL = {"mouthSmileLeft": 0.18, "mouthSmileRight": 0.18, "browInnerUp": 0.12,
                "cheekSquintLeft": 0.05, "cheekSquintRight": 0.05}
_MIRRORED = np.array([n.startswith(("brow", "eyeSquint", "eyeWide", "cheekSquint", "noseSneer",
                                    "mouthSmile", "mouthFrown", "mouthDimple"))
                      for n in BLENDSHAPES])
_SWAP = np.array([BLENDSHAPES.index(n.replace("Left", "\0").replace("Right", "Left")
                                    .replace("\0", "Right")) for n in BLENDSHAPES])


def mirror_target(blendshapes: Sequence[float] | np.ndarray | None,
                  vad: tuple[float, float, float] | None) -> np.ndarray:
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
        self.mirror = Lag(np.zeros(len(BLENDSHAPES)), MIRROR_EASE)
        self.presence = Lag(np.zeros(1), 0.25)  # 0 not listening .. 1 listening, eased
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._nods: list[tuple[float, float, int]] = []  # (start, size in radians, 1 or 2 nods)
        self._own_face_t = -math.inf
        # extraverts and the agreeable answer more pauses, and extraverts nod bigger
        self.gap = MIN_NOD_GAP / (0.6 + 0.5 * traits.A + 0.3 * traits.E)
        self.size = 0.025 + 0.03 * traits.E
        self.backchannel = np.zeros(len(BLENDSHAPES), dtype=np.float32)
        for name, w in _BACKCHANNEL.items():
            self.backchannel[BLENDSHAPES.index(name)] = w * (0.5 + 0.5 * traits.A + 0.3 * traits.E)

    def set(self, listening: bool, t: float) -> None:
        open_ = bool(self._starts) and self._ends[-1] == math.inf
        if listening and not open_:
            self._starts.append(t)
            self._ends.append(math.inf)
        elif not listening and open_:
            self._ends[-1] = max(t, self._starts[-1])
        self.presence.set(t, np.array([1.0 if listening else 0.0]))

    def is_listening(self, t: float) -> bool:
        i = bisect_right(self._starts, t) - 1
        return i >= 0 and t < self._ends[i]

    def pause(self, t: float) -> bool:
        """The user paused at ``t``: nod a moment later, unless not listening or a nod was
        given too recently. Whether it nodded."""
        start = t + NOD_LATENCY
        if not self.is_listening(t) or (self._nods and start - self._nods[-1][0] < self.gap):
            return False
        rng = np.random.default_rng([self.seed, 42, int(round(t * 1000))])
        self._nods.append((start, self.size * float(rng.uniform(0.8, 1.2)), 2 if rng.random() < 0.35 else 1))
        return True

    def set_user(self, t: float, blendshapes: Sequence[float] | np.ndarray | None,
                 vad: tuple[float, float, float] | None) -> None:
        """What the user's face shows at ``t``: mirrored ``MIRROR_DELAY`` later. Their own
        blendshapes win; an affect estimate stands in only while none came for a while."""
        if blendshapes is not None:
            self._own_face_t = t
        elif t - self._own_face_t < OWN_FACE_HOLD:
            return
        self.mirror.set(t + MIRROR_DELAY, mirror_target(None if blendshapes is None else np.asarray(blendshapes), vad))

    def _nod_at(self, t: float) -> tuple[float, float, int] | None:
        i = bisect_right([n[0] for n in self._nods], t) - 1
        if i < 0 or not self.is_listening(self._nods[i][0] - NOD_LATENCY):
            return None
        start, size, count = self._nods[i]
        return (start, size, count) if t - start < 2 * NOD_WIDTH else None

    def nod(self, t: float) -> float:
        """Head pitch (radians, negative: down) from backchannel nods at ``t``."""
        found = self._nod_at(t)
        if found is None:
            return 0.0
        start, size, count = found
        dt = t - start
        pulse = float(nod_pulse(dt, NOD_WIDTH))
        if count == 2:
            pulse += 0.6 * float(nod_pulse(dt - NOD_WIDTH, NOD_WIDTH))
        return -size * pulse

    def nod_onsets(self) -> list[float]:
        """Start times of the nods still scheduled."""
        return [n[0] for n in self._nods]

    def expression(self, t: float) -> np.ndarray:
        """(52,) weights to add: the mirrored user, faded in and out with listening, and the
        brief backchannel expression with each nod."""
        weight = float(self.presence.value(t)[0])
        out = np.zeros(len(BLENDSHAPES), dtype=np.float32)
        if weight >= 1e-3 and self.gain > 0.0:
            out += (self.gain * weight * self.mirror.value(t)).astype(np.float32)
        found = self._nod_at(t)
        if found is not None:
            out += float(nod_pulse(t - found[0], 2 * NOD_WIDTH)) * self.backchannel
        return out

    def tilt(self, t: float) -> tuple[float, float, float]:
        """Listening posture (pitch, yaw, roll): a slight tilt of the head toward the speaker."""
        w = float(self.presence.value(t)[0])
        return (-0.015 * w, 0.0, 0.04 * w)

    def forget_before(self, t: float) -> None:
        i = bisect_right(self._ends, t)  # intervals that ended before t can go
        if i > 0:
            del self._starts[:i], self._ends[:i]
        j = bisect_right([n[0] for n in self._nods], t - 2 * NOD_WIDTH)
        del self._nods[:j]
        self.mirror.forget_before(t)
        self.presence.forget_before(t)
