"""Seeing the user: the face pipeline (landmarks → active user → affect and attention) and the
async stage that runs it on a video source, off the event loop, publishing
``AffectEstimated(source="face")`` and ``UserPresence`` on the bus.

The stage pulls the newest frame, analyses it in a worker thread and pulls again, so its rate
is the analyser's and a slow machine skips camera frames instead of falling behind. It listens
to ``UserSpeechStarted``/``UserSpeechEnded`` itself (or ``speech_active`` is set from outside)
to pick the face whose mouth moves while someone speaks.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.core import events as ev
from agent.core.affect import AffectEstimate
from agent.core.face_state import BLENDSHAPES, INDEX, FaceState
from perception.active_face import ActiveFaceSelector
from perception.attention import PresenceTracker, eye_gaze, face_position, looking_at_screen
from perception.face import FaceLandmarker, FaceObservation
from perception.face_affect import AffectSmoother, FaceAffect, FaceReading

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FaceAnalysis:
    """One frame: every face found, which one is the user, and what it shows."""

    t: float
    faces: tuple[FaceObservation, ...]
    active: int | None
    reading: FaceReading | None = None
    looking: bool = False
    seconds: float = 0.0  # analysis time

    @property
    def user(self) -> FaceObservation | None:
        return self.faces[self.active] if self.active is not None else None

    @property
    def others(self) -> int:
        return max(0, len(self.faces) - 1)

    @property
    def position(self) -> tuple[float, float] | None:
        return face_position(self.user) if self.user is not None else None


class FaceAnalyzer:
    """``analyze(image, t, speech_active) -> FaceAnalysis``. Blocking; call it from one worker
    thread at a time (the stage does). ``video=False`` treats frames as unrelated stills."""

    def __init__(self, landmarker: FaceLandmarker | None = None, affect: FaceAffect | None = None,
                 *, video: bool = True, model_path: str | Path | None = None,
                 allow_download: bool = False) -> None:
        self.landmarker = landmarker or FaceLandmarker(model_path, video=video,
                                                       allow_download=allow_download)
        self.affect = affect or FaceAffect()
        self.selector = ActiveFaceSelector()

    def analyze(self, image: np.ndarray, t: float, speech_active: bool = False) -> FaceAnalysis:
        start = time.perf_counter()
        faces = self.landmarker.detect(image, t)
        choice = self.selector.select(faces, t, speech_active)
        reading, looking = None, False
        if choice.index is not None:
            user = faces[choice.index]
            reading = self.affect.read(image, user, t)
            looking = looking_at_screen(user)
        return FaceAnalysis(t, tuple(faces), choice.index, reading, looking,
                            time.perf_counter() - start)

    def close(self) -> None:
        self.landmarker.close()


# -------------------------------------------------------------------- FaceState


def face_state(face: FaceObservation, t: float, speaking: bool = False) -> FaceState:
    """The user's face as the renderer's ``FaceState``, in the camera's view (a viewer sees
    what the camera sees). Eye direction goes to ``gaze`` and the eyeLook shapes are zeroed so
    renderers do not turn the eyes twice."""
    weights = face.blendshapes.astype(np.float32).copy()
    weights[_EYE_LOOK] = 0.0
    return FaceState(t=t, weights=weights, head=face.head, gaze=eye_gaze(face), speaking=speaking)


_EYE_LOOK = [i for i, n in enumerate(BLENDSHAPES) if n.startswith("eyeLook")]
_SWAP = np.array([INDEX[n[:-4] + "Right"] if n.endswith("Left") else
                  INDEX[n[:-5] + "Left"] if n.endswith("Right") else i
                  for i, n in enumerate(BLENDSHAPES)])


def mirrored(state: FaceState) -> FaceState:
    """The state as a mirror shows it (a self-view): left and right shapes swap, yaw, roll,
    horizontal gaze and sideways translation change sign."""
    pitch, yaw, roll = state.head
    x, y, z = state.translation
    return replace(state, weights=state.weights[_SWAP].copy(), head=(pitch, -yaw, -roll),
                   gaze=(-state.gaze[0], state.gaze[1]), translation=(-x, y, z))


# -------------------------------------------------------------------- the stage


class Seeing:
    """Runs ``analyzer`` on ``source`` and publishes what it sees; ``run()`` ends with the source."""

    def __init__(self, bus: Any, source: Any, analyzer: FaceAnalyzer, *, affect_interval: float = 0.25,
                 presence: PresenceTracker | None = None, smoothing: float = 0.6,
                 move_threshold: float = 0.08, clock: Callable[[], float] = time.monotonic) -> None:
        self.bus, self.source, self.analyzer = bus, source, analyzer
        self.affect_interval, self.move_threshold = affect_interval, move_threshold
        self.presence = presence or PresenceTracker()
        self.smoother = AffectSmoother(tau=smoothing)
        self.clock = clock
        self.speech_active = False
        self.frames = 0
        self.errors = 0  # consecutive frames the analyser failed on
        self.max_errors = 30
        self.latencies: deque[float] = deque(maxlen=300)
        self._latest: FaceAnalysis | None = None
        self._last_affect_t: float | None = None
        self._last_presence: tuple[tuple[float, float], bool] | None = None
        if bus is not None:
            bus.observe(self._on_event)

    def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.UserSpeechStarted):
            self.speech_active = True
        elif isinstance(event, ev.UserSpeechEnded):
            self.speech_active = False

    @property
    def dropped(self) -> int:
        return int(getattr(self.source, "dropped", 0))

    async def run(self) -> None:
        while True:
            frame = await self.source.recv()
            if frame is None:
                break
            try:
                analysis = await asyncio.to_thread(self.analyzer.analyze, frame.image, frame.t,
                                                   self.speech_active)
            except (ValueError, RuntimeError) as e:  # one bad frame must not end the session
                self.errors += 1
                if self.errors > self.max_errors:
                    raise
                log.warning("face analysis failed on a frame (%s); skipping it", type(e).__name__)
                continue
            self.errors = 0
            self.frames += 1
            self.latencies.append(analysis.seconds)
            self._latest = analysis
            await self.observe(analysis)

    async def observe(self, analysis: FaceAnalysis) -> None:
        """Turn one analysis into events (separate from ``run`` so tests can drive it)."""
        t = analysis.t
        change = self.presence.update(analysis.user is not None, t)
        if analysis.reading is not None:
            self.smoother.update(analysis.reading)
        else:
            self.smoother.decay(t)
        position = analysis.position
        if change.arrived or change.left:
            await self._publish_presence(analysis, change.present)
        elif change.present and position is not None and self._last_presence is not None:
            (px, py), was_looking = self._last_presence
            moved = math.hypot(position[0] - px, position[1] - py) > self.move_threshold
            if moved or was_looking != analysis.looking:
                await self._publish_presence(analysis, True)
        if change.present and analysis.reading is not None and (
                self._last_affect_t is None or t - self._last_affect_t >= self.affect_interval
                or t < self._last_affect_t):
            self._last_affect_t = t
            est = self.smoother.estimate(t, analysis.looking)
            await self.bus.publish(ev.AffectEstimated(source="face", vad=est.vad,
                                                      confidence=est.confidence, label=est.label,
                                                      cues=est.cues))
            if analysis.user is not None:  # the face itself, for mirroring
                await self.bus.publish(ev.UserExpression(
                    blendshapes=tuple(round(float(w), 3) for w in analysis.user.blendshapes)))
            await self.bus.publish(ev.StageLatency(stage="face", seconds=round(analysis.seconds, 5),
                                                   turn=getattr(self.bus, "turn", 0)))

    async def _publish_presence(self, analysis: FaceAnalysis, present: bool) -> None:
        position = analysis.position or (0.0, 0.0)
        looking = analysis.looking if present else False
        self._last_presence = (position, looking) if present else None
        await self.bus.publish(ev.UserPresence(present=present, faces=len(analysis.faces),
                                               position=position, looking=looking))

    # ---------------------------------------------------------------- for others to read
    def latest_analysis(self) -> FaceAnalysis | None:
        return self._latest

    def latest_affect(self) -> AffectEstimate:
        t = self._latest.t if self._latest is not None else 0.0
        return self.smoother.estimate(t, self._latest.looking if self._latest else None)

    def latest_face_state(self, mirror: bool = False) -> FaceState | None:
        """The user's blendshapes, head pose and eye gaze from the newest frame (``None`` when
        no one is seen); ``mirror=True`` for a self-view that behaves like a mirror."""
        a = self._latest
        if a is None or a.user is None:
            return None
        state = face_state(a.user, a.t, speaking=self.speech_active)
        return mirrored(state) if mirror else state

    def stats(self) -> dict[str, float]:
        lat = sorted(self.latencies)
        return {"frames": self.frames, "dropped": self.dropped,
                "median_ms": 1000 * lat[len(lat) // 2] if lat else 0.0}

    async def aclose(self) -> None:
        await self.source.aclose()
        self.analyzer.close()


def build_seeing(bus: Any, *, input_video: str | Path | None = None, camera: int = 0,
                 realtime: bool = True, model_path: str | Path | None = None,
                 allow_download: bool = False) -> Seeing:
    """The seeing stage on a file or a camera; a missing camera raises ``DeviceUnavailable``."""
    from perception.video_source import CameraSource, FileVideoSource

    source = FileVideoSource(input_video, realtime=realtime) if input_video is not None else CameraSource(camera)
    try:
        analyzer = FaceAnalyzer(model_path=model_path, allow_download=allow_download)
    except BaseException:
        source.close()
        raise
    return Seeing(bus, source, analyzer)
