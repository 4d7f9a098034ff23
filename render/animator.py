"""``Animator``: what the agent feels, says and hears → one ``FaceState`` per frame.

The session schedules things on the audio clock (an emotion change, a chunk of speech at the
sample position it will play from, the user's face as the camera sees it, listening on and
off) and asks for frames at audio-clock times. A frame is a pure function of that schedule and
the seed: the same calls give the same frames, whatever the frame rate or how often frames
are taken.

Layers, bottom to top: the emotion's action units (eased, with micro-motion) and what the
expression description adds; the mirrored user while listening; the mouth's articulation of
scheduled speech; blinks; gaze (eyes and head share the turn toward the user); head motion
(posture from dominance, sway, nods on stressed syllables, backchannel nods).

``FaceState.gaze`` is the eyes' direction in the head (what eyeLook* show); the head's own
turn is in ``FaceState.head``.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.core.face_state import INDEX, FaceState
from agent.core.speech import SpeechChunk
from persona.config import Persona
from persona.emotion import Emotion
from render.describe import describe
from render.expression import AU_INDEX, ExpressionTrack, MicroMotion, blendshapes_from_aus, emotion_aus
from render.idle import Blinks, Gaze, Lag, SmoothNoise, Steps, apply_gaze, blink_rate, breathing, nod_pulse
from render.lipsync import MouthTrack, articulate, mouth_track, speech_beats
from render.listening import Listening

log = logging.getLogger(__name__)

CAMERA_HALF_FOV = (0.55, 0.33)  # radians, a typical webcam (about 63° × 38°)
HEAD_SHARE = 0.35  # of a turn toward the user the head takes; the eyes do the rest
KEEP_HISTORY = 2.0  # seconds of schedule kept behind the latest frame
_BLINK = (INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"])
_WIDE = (INDEX["eyeWideLeft"], INDEX["eyeWideRight"])
_BROW_RAISE = (AU_INDEX[1], AU_INDEX[2])
_SPEECH_NOD_WIDTH = 0.3


@dataclass(slots=True)
class _Utterance:
    """A scheduled chunk: its mouth track, its beats, and when it stops (cut by interrupt)."""

    track: MouthTrack
    start: float
    end: float
    beats: np.ndarray  # absolute seconds of stressed syllables
    nods: np.ndarray  # radians of each beat's nod
    brows: np.ndarray  # brow raise (AU1+2) with each beat, 0 for most


class Animator:
    """The face's animation on the audio clock; see the module docstring."""

    def __init__(self, persona: Persona, fps: float = 30.0, seed: int = 0) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.persona = persona
        self.fps = float(fps)
        self.seed = int(seed)
        traits = persona.traits
        self._expressivity = 0.85 + 0.3 * traits.E
        self._motion = 0.7 + 0.6 * traits.E  # head motion scale
        baseline = Emotion.from_vad(persona.baseline_mood.as_tuple())
        self._emotion: Steps[Emotion] = Steps(baseline)
        self._expression = ExpressionTrack(emotion_aus(baseline, self._expressivity))
        self._posture = Lag(np.asarray(baseline.vad), 0.6)
        self._micro = MicroMotion(self.seed)
        self._listening = Listening(traits, self.seed)
        self._user: Steps[tuple[float, float] | None] = Steps(None)
        self._look = Lag(np.zeros(2), 0.15)  # gaze base: toward the user, or the camera
        self._talk = Lag(np.zeros(1), 0.12)  # 0..1: how much speech owns the mouth and head
        self._utterances: list[_Utterance] = []
        self._chunks = 0
        self._sway = SmoothNoise(3, [self.seed, 51], 0.05, 0.35)
        self._blinks = Blinks(self.seed, self._blink_rate)
        self._gaze = Gaze(self.seed, self._mode)
        self._pruned = -math.inf

    # ---------------------------------------------------------------- schedule

    def set_emotion(self, emotion: Emotion, t: float, description: str = "") -> None:
        """Move toward ``emotion`` from ``t`` (eased; faster when aroused), plus what an
        expression description such as "a small, crooked smile" adds."""
        target = emotion_aus(emotion, self._expressivity)
        if description:
            target = np.clip(target + describe(description).aus, 0.0, 1.0)
        self._expression.set(t, target, arousal=emotion.vad[1])
        self._emotion.set(t, emotion)
        self._posture.set(t, np.asarray(emotion.vad))

    def speak(self, chunk: SpeechChunk, start_t: float) -> None:
        """Schedule a chunk to be articulated from ``start_t`` (the audio-clock time its first
        sample plays). A chunk scheduled over an earlier one replaces it from ``start_t``."""
        if chunk.sample_rate <= 0 or np.asarray(chunk.audio).ndim != 1:
            raise ValueError("a SpeechChunk needs mono audio and a positive sample rate")
        if chunk.duration <= 0.0:
            return
        self._cut(start_t)
        self._chunks += 1
        track = mouth_track(chunk, start_t, self.fps)
        beats = np.asarray(speech_beats(chunk), dtype=np.float64) + start_t
        rng = np.random.default_rng([self.seed, 61, self._chunks])
        arousal = float(self._emotion.at(start_t).vad[1])
        nods = (0.025 + 0.02 * max(0.0, arousal)) * self._motion * rng.uniform(0.5, 1.2, len(beats))
        brows = np.where(rng.random(len(beats)) < 0.3, 0.3 * self._expressivity, 0.0)
        self._utterances.append(_Utterance(track, start_t, start_t + chunk.duration, beats,
                                           nods, brows))
        self._talk.set(start_t, np.ones(1))
        self._talk.set(start_t + chunk.duration, np.zeros(1))

    def interrupt(self, t: float) -> None:
        """Barge-in: speech scheduled from ``t`` on is dropped, the mouth is at rest from the
        first frame at or after ``t``, and the face goes back to listening."""
        self._cut(t)
        self._talk.set(t, np.zeros(1))
        self._listening.set(True, t)

    def set_listening(self, listening: bool, t: float) -> None:
        self._listening.set(listening, t)

    def user_paused(self, t: float) -> bool:
        """The user paused at ``t`` (the hearing stage's ``UserPause``): while listening, a
        backchannel nod follows. Whether one was scheduled."""
        return self._listening.pause(t)

    def nod_onsets(self) -> list[float]:
        """When the listening nods still in the schedule start (audio clock)."""
        return self._listening.nod_onsets()

    def set_user_position(self, position: tuple[float, float] | None, t: float) -> None:
        """Where the camera sees the user's face at ``t``: the gaze follows it.

        ``position`` is the face centre in the camera image as
        ``perception.attention.face_position`` gives it: each axis in [-1, 1], (0, 0) the
        centre, x > 0 right of centre in the (unmirrored) image, which is the user's own left,
        so the face turns toward the viewer's left; y > 0 above centre. None: no face seen.
        """
        if position is not None:
            x, y = (float(c) for c in position)
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"user position must be finite, got {position}")
            x, y = max(-1.0, min(1.0, x)), max(-1.0, min(1.0, y))
            look = np.array([-math.atan(x * math.tan(CAMERA_HALF_FOV[0])),
                             math.atan(y * math.tan(CAMERA_HALF_FOV[1]))])
            self._user.set(t, (x, y))
        else:
            look = np.zeros(2)
            self._user.set(t, None)
        self._look.set(t, look)

    def set_user_affect(self, t: float, affect_vad: tuple[float, float, float] | None = None,
                        blendshapes: Sequence[float] | np.ndarray | None = None) -> None:
        """How the user looks at ``t``: their own ``blendshapes`` (52, ARKit order) or, without
        them, ``affect_vad`` drive mirroring while listening, about half a second later. Where
        the user is, and whether they are there at all, is ``set_user_position``'s."""
        if affect_vad is not None or blendshapes is not None:
            self._listening.set_user(t, blendshapes, affect_vad)

    # ---------------------------------------------------------------- frames

    def frame(self, t: float) -> FaceState:
        """The face at audio-clock time ``t`` (non-decreasing across calls; the schedule more
        than ``KEEP_HISTORY`` seconds behind the latest frame is forgotten)."""
        if t - self._pruned > 5.0:
            self._forget_before(t - KEEP_HISTORY)
        utt = self._utterance_at(t)
        aus = self._expression.value(t)
        nod, brow = self._speech_beats(t, utt)
        if brow > 0.0:
            aus = aus.copy()
            aus[:, _BROW_RAISE] += brow
        aus = self._micro(t, aus)
        w = blendshapes_from_aus(aus)
        w += self._listening.expression(t)
        if utt is not None:
            pose, closure = utt.track.at(t)
            articulate(w, pose, closure, float(self._talk.value(t)[0]))

        blink = self._blinks.closure(t)
        if blink > 0.0:
            for i in _BLINK:
                w[i] = max(w[i], blink)
            for i in _WIDE:
                w[i] *= 1.0 - blink
        look = self._look.value(t)
        dh, dv = self._gaze.offset(t)
        gaze = ((1.0 - HEAD_SHARE) * look[0] + dh, (1.0 - HEAD_SHARE) * look[1] + dv)
        apply_gaze(w, gaze[0], gaze[1])

        talk = float(self._talk.value(t)[0])
        sway = self._sway(t) * (0.012 + 0.018 * talk) * self._motion
        v, _, d = self._posture.value(t)
        tilt = self._listening.tilt(t)
        pitch = (HEAD_SHARE * look[1] + 0.06 * d + 0.03 * min(0.0, v) + sway[0] + nod
                 + self._listening.nod(t) + tilt[0])
        head = (pitch, HEAD_SHARE * look[0] + sway[1], 0.6 * sway[2] + tilt[2])
        np.clip(w, 0.0, 1.0, out=w)
        return FaceState(t=t, weights=w.astype(np.float32, copy=False),
                         head=(float(head[0]), float(head[1]), float(head[2])),
                         translation=breathing(t), gaze=(float(gaze[0]), float(gaze[1])),
                         speaking=utt is not None)

    def mode(self, t: float) -> str:
        """What the face is doing at ``t``: ``speaking``, ``listening`` or ``idle``."""
        return self._mode(t)

    def frames(self, t0: float, t1: float) -> list[FaceState]:
        """Frames at ``fps`` from ``t0`` up to (not including) ``t1``."""
        n = max(0, int(math.floor((t1 - t0) * self.fps + 1e-9)))
        return [self.frame(t0 + k / self.fps) for k in range(n)]

    # ---------------------------------------------------------------- internals

    def _cut(self, t: float) -> None:
        self._utterances = [u for u in self._utterances if u.start < t]
        for u in self._utterances:
            u.end = min(u.end, t)

    def _utterance_at(self, t: float) -> _Utterance | None:
        i = bisect_right([u.start for u in self._utterances], t) - 1
        if i >= 0 and t < self._utterances[i].end:
            return self._utterances[i]
        return None

    def _speech_beats(self, t: float, utt: _Utterance | None) -> tuple[float, float]:
        """Head pitch from nods on stressed syllables, and brow raise with some of them."""
        if utt is None:
            return 0.0, 0.0
        j = int(np.searchsorted(utt.beats, t, side="right"))
        nod = brow = 0.0
        for k in range(max(0, j - 2), j):
            dt = t - utt.beats[k]
            if dt < 0.4:
                pulse = float(nod_pulse(dt, _SPEECH_NOD_WIDTH))
                nod -= utt.nods[k] * pulse
                brow += utt.brows[k] * float(nod_pulse(dt, 0.4))
        return nod, brow

    def _mode(self, t: float) -> str:
        if self._utterance_at(t) is not None:
            return "speaking"
        return "listening" if self._listening.is_listening(t) else "idle"

    def _blink_rate(self, t: float) -> float:
        conversation = self._mode(t) != "idle" or self._user.at(t) is not None
        return blink_rate(conversation, self._emotion.at(t).vad[1], self.persona.traits.N)

    def _forget_before(self, t: float) -> None:
        self._pruned = t + KEEP_HISTORY
        self._utterances = [u for u in self._utterances if u.end >= t]
        self._expression.forget_before(t)
        self._emotion.forget_before(t)
        self._posture.forget_before(t)
        self._user.forget_before(t)
        self._look.forget_before(t)
        self._talk.forget_before(t)
        self._listening.forget_before(t)
        self._blinks.stream.forget_before(t)
        self._gaze.stream.forget_before(t)
