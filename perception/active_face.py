"""Which of several faces is the user, after UGotMe's active face extraction (Li et al. 2024,
arXiv 2410.18373): keep only the active speaker's face, so bystanders' expressions do not leak
into the estimate. UGotMe finds the speaker by sound direction and turns the robot toward them;
with one microphone we use what a single camera can see instead: the largest face, the most
frontal, and, while the microphone hears speech, the one whose mouth moves.

Faces are tracked across frames by box overlap so each keeps its own history of mouth opening;
the current choice keeps a bonus (hysteresis) so the selection does not flicker between two
similar faces.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from perception.face import FaceObservation

UPPER_LIP, LOWER_LIP, FOREHEAD, CHIN = 13, 14, 10, 152


def mouth_opening(face: FaceObservation) -> float:
    """Inner-lip gap over face height: scale-free, moves with speech."""
    gap = float(np.linalg.norm(face.point(UPPER_LIP) - face.point(LOWER_LIP)))
    height = float(np.linalg.norm(face.point(FOREHEAD) - face.point(CHIN)))
    return gap / max(height, 1.0)


def frontalness(face: FaceObservation) -> float:
    """1 facing the camera, 0 at 60° or more away."""
    pitch, yaw, _ = face.head
    angle = math.degrees(max(abs(yaw), 0.8 * abs(pitch)))
    return max(0.0, 1.0 - angle / 60.0)


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    id: int
    box: tuple[float, float, float, float]
    last_t: float
    mouth: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=45))

    def mouth_motion(self, now: float, window: float) -> float:
        """Standard deviation of the mouth opening over the last ``window`` seconds."""
        vals = [m for t, m in self.mouth if now - t <= window]
        return float(np.std(vals)) if len(vals) >= 3 else 0.0


@dataclass(frozen=True, slots=True)
class Choice:
    index: int | None  # into the frame's faces; None when there are none
    track: int | None
    others: int
    scores: tuple[float, ...] = ()


class ActiveFaceSelector:
    """``select(faces, t, speech_active) -> Choice``; keeps per-face tracks between calls."""

    def __init__(self, *, size_weight: float = 1.0, frontal_weight: float = 0.6,
                 mouth_weight: float = 2.0, keep_bonus: float = 0.25, window: float = 1.0,
                 forget_after: float = 1.0) -> None:
        self.size_weight, self.frontal_weight = size_weight, frontal_weight
        self.mouth_weight, self.keep_bonus = mouth_weight, keep_bonus
        self.window, self.forget_after = window, forget_after
        self.tracks: list[Track] = []
        self.active: int | None = None
        self._ids = itertools.count(1)

    def _match(self, faces: list[FaceObservation], t: float) -> list[Track]:
        free = [tr for tr in self.tracks if t - tr.last_t <= self.forget_after]
        matched: list[Track] = []
        for face in faces:
            box = face.box
            best = max(free, key=lambda tr: iou(tr.box, box), default=None)
            if best is not None and iou(best.box, box) > 0.2:
                free.remove(best)
                best.box, best.last_t = box, t
                matched.append(best)
            else:
                matched.append(Track(next(self._ids), box, t))
        self.tracks = matched + [tr for tr in free if t - tr.last_t <= self.forget_after]
        return matched

    def select(self, faces: list[FaceObservation], t: float, speech_active: bool = False) -> Choice:
        tracks = self._match(faces, t)
        for face, tr in zip(faces, tracks):
            tr.mouth.append((t, mouth_opening(face)))
        if not faces:
            return Choice(None, None, 0)
        largest = max(f.area for f in faces) or 1.0
        motions = [tr.mouth_motion(t, self.window) for tr in tracks]
        top_motion = max(motions) or 1.0
        scores = []
        for face, tr, motion in zip(faces, tracks, motions):
            s = self.size_weight * math.sqrt(face.area / largest) + self.frontal_weight * frontalness(face)
            if speech_active and top_motion > 0.004:  # below ~0.4% of face height is jitter
                s += self.mouth_weight * motion / top_motion
            if tr.id == self.active:
                s += self.keep_bonus
            scores.append(s)
        best = int(np.argmax(scores))
        self.active = tracks[best].id
        return Choice(best, self.active, len(faces) - 1, tuple(round(s, 3) for s in scores))
