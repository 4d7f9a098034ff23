"""Attention cues for the avatar: where the user's face is in the frame, whether they look at
the screen, and when they arrive or leave.

Position is in the camera image, each axis in [-1, 1]: x > 0 right of centre in the image
(the user's own left, and the avatar's right, so an avatar that follows them turns its gaze
toward the viewer's left), y > 0 above centre.

"Looking at the screen" combines head pose with the iris position inside each eye (MediaPipe's
landmarks 468 and 473 are the iris centres): a head turned 10° with eyes turned back 10° still
looks at the screen. Arrivals and departures use hysteresis so one missed detection is not a
departure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from perception.face import FaceObservation

# (outer corner, inner corner, upper lid, lower lid, iris centre) per eye, image-left eye first.
_EYES = ((33, 133, 159, 145, 468), (263, 362, 386, 374, 473))
EYE_RANGE_DEG = (35.0, 25.0)  # eye rotation when the iris reaches the corner / the lid (design choice)


def face_position(face: FaceObservation) -> tuple[float, float]:
    x0, y0, x1, y1 = face.box
    x = (x0 + x1) - 1.0  # centre * 2 - 1
    y = 1.0 - (y0 + y1)
    return float(np.clip(x, -1, 1)), float(np.clip(y, -1, 1))


def eye_gaze(face: FaceObservation) -> tuple[float, float]:
    """Eye-in-head rotation (horizontal, vertical) in radians, > 0 toward the image's right / up,
    from where each iris sits between the eye corners and lids."""
    hs, vs = [], []
    for outer, inner, upper, lower, iris in _EYES:
        a, b = face.point(outer), face.point(inner)
        left, right = (a, b) if a[0] < b[0] else (b, a)
        width = right[0] - left[0]
        if width <= 1e-3 or len(face.landmarks) <= iris:
            continue
        c = face.point(iris)
        hs.append(2.0 * (c[0] - left[0]) / width - 1.0)
        top, bottom = face.point(upper)[1], face.point(lower)[1]
        mid, half = (top + bottom) / 2.0, max((bottom - top) / 2.0, width * 0.15)
        vs.append(-(c[1] - mid) / half)
    if not hs:
        return 0.0, 0.0
    h = float(np.clip(np.mean(hs), -1, 1)) * math.radians(EYE_RANGE_DEG[0])
    v = float(np.clip(np.mean(vs), -1, 1)) * math.radians(EYE_RANGE_DEG[1])
    return h, v


def looking_at_screen(face: FaceObservation, *, yaw_limit: float = 20.0, pitch_limit: float = 25.0,
                      camera_above_deg: float = 8.0) -> bool:
    """Head plus eyes point at the screen; the camera usually sits above it, so looking at the
    screen is looking slightly below the camera."""
    pitch, yaw, _ = face.head
    eh, ev = eye_gaze(face)
    gaze_yaw = math.degrees(yaw + eh)
    gaze_pitch = math.degrees(pitch + ev) + camera_above_deg
    return abs(gaze_yaw) <= yaw_limit and abs(gaze_pitch) <= pitch_limit


@dataclass(frozen=True, slots=True)
class PresenceChange:
    present: bool
    arrived: bool = False
    left: bool = False


class PresenceTracker:
    """Arrive after ``arrive_after`` s of seeing a face, leave after ``leave_after`` s of not."""

    def __init__(self, arrive_after: float = 0.3, leave_after: float = 1.5) -> None:
        self.arrive_after, self.leave_after = arrive_after, leave_after
        self.present = False
        self._seen_since: float | None = None
        self._last_seen: float | None = None

    def update(self, seen: bool, t: float) -> PresenceChange:
        if seen:
            self._last_seen = t
            if self._seen_since is None:
                self._seen_since = t
            if not self.present and t - self._seen_since >= self.arrive_after:
                self.present = True
                return PresenceChange(True, arrived=True)
        else:
            self._seen_since = None
            if self.present and (self._last_seen is None or t - self._last_seen >= self.leave_after):
                self.present = False
                return PresenceChange(False, left=True)
        return PresenceChange(self.present)
