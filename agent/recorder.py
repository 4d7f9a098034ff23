"""Recording a session: everything the agent showed and said, and every event.

``Recording`` keeps the face timeline and the agent's audio on the session clock while the
session runs (cheap), and renders + encodes the video when it closes, so a slow CPU never
desynchronises sound and picture: both come from the same timeline. ``EventLog`` writes every
event as one JSON line.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

from agent.core.events import Event
from agent.core.face_state import FaceState
from agent.core.speech import SpeechChunk

log = logging.getLogger(__name__)

RENDER_BATCH = 16


class Recording:
    """``keep_frames=False`` for live sessions: the frames go to a ``RecordingSink`` as they are
    rendered, and only the audio timeline is kept here (it must be cut on interrupts)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], sample_rate: int = 22050,
                 keep_frames: bool = True):
        self.path, self.fps, self.size, self.sample_rate = Path(path), fps, size, sample_rate
        self.keep_frames = keep_frames
        self.frames: list[FaceState] = []
        self._audio: list[tuple[float, np.ndarray]] = []  # (session start time, samples)
        self._cut_at: float | None = None
        self._longest = 0.0  # seconds: the longest chunk, so a search can stop early
        self._lock = threading.Lock()  # the live recording reads the audio from the video worker

    def add_frame(self, state: FaceState) -> None:
        if self.keep_frames:
            self.frames.append(state)

    def add_speech(self, chunk: SpeechChunk, start: float) -> None:
        audio = chunk.audio.astype(np.float32)
        if chunk.sample_rate != self.sample_rate:
            import soxr

            audio = soxr.resample(audio, chunk.sample_rate, self.sample_rate).astype(np.float32)
        with self._lock:
            self._audio.append((start, audio))
            if len(self._audio) > 1 and self._audio[-2][0] > start:
                self._audio.sort(key=lambda a: a[0])
            self._longest = max(self._longest, len(audio) / self.sample_rate)

    def cut(self, t: float) -> None:
        """An interrupt at ``t``: audio queued to play after it was never heard."""
        kept = []
        for start, audio in self._audio:
            if start >= t:
                continue
            n = int((t - start) * self.sample_rate)
            kept.append((start, audio[:n]))
        with self._lock:
            self._audio = kept

    def audio_track(self, duration: float) -> np.ndarray:
        return self.audio_between(0.0, duration)

    def audio_between(self, t0: float, t1: float) -> np.ndarray:
        """The agent's audio from ``t0`` to ``t1`` on the session clock (silence between replies).

        Chunks are kept in the order they play, so only the last few are looked at for a live
        frame, however long the recording."""
        i0, i1 = int(round(t0 * self.sample_rate)), int(round(t1 * self.sample_rate))
        track = np.zeros(max(0, i1 - i0), dtype=np.float32)
        for start, audio in self._overlapping(t0, t1):
            a0 = int(round(start * self.sample_rate))
            lo, hi = max(i0, a0), min(i1, a0 + len(audio))
            if lo < hi:
                track[lo - i0:hi - i0] += audio[lo - a0:hi - a0]
        return np.clip(track, -1.0, 1.0)

    def _overlapping(self, t0: float, t1: float) -> list[tuple[float, np.ndarray]]:
        out = []
        with self._lock:
            chunks = list(self._audio)
        for start, audio in reversed(chunks):
            if start + self._longest < t0:
                break  # the chunks before start no later and last no longer: none reaches t0
            if start < t1:
                out.append((start, audio))
        return out

    @property
    def duration(self) -> float:
        face_end = len(self.frames) / self.fps
        audio_end = max((s + len(a) / self.sample_rate for s, a in self._audio), default=0.0)
        return max(face_end, audio_end)

    def write(self, renderer: Any, animator: Any | None = None) -> Path:
        """Render the face timeline and write video + audio; returns the path."""
        from render.sinks import VideoFileSink

        duration = self.duration
        n = int(np.ceil(duration * self.fps))
        frames = list(self.frames)
        if animator is not None and len(frames) < n:  # the tail of the last reply
            frames += [animator.frame(i / self.fps) for i in range(len(frames), n)]
        sink = VideoFileSink(self.path, fps=self.fps, size=self.size, sample_rate=self.sample_rate)
        try:
            sink.write_audio(self.audio_track(n / self.fps), self.sample_rate, 0.0)
            for i in range(0, n, RENDER_BATCH):
                batch = frames[i:i + RENDER_BATCH]
                for j, image in enumerate(renderer.render(batch)):
                    sink.write(image, (i + j) / self.fps)
        finally:
            sink.close()
        return self.path


class RecordingSink:
    """A live video-file output: frames as they are rendered, and the audio that has been played
    up to each frame, so an interrupt never leaves unheard speech in the file."""

    name = "recording"

    def __init__(self, recording: Recording) -> None:
        from render.sinks import VideoFileSink

        self.recording = recording
        self._file = VideoFileSink(recording.path, fps=recording.fps, size=recording.size,
                                   sample_rate=recording.sample_rate)
        self._audio_t = 0.0

    def write(self, frame: np.ndarray, t: float) -> None:
        self._audio_up_to(t)
        self._file.write(frame, t)

    def _audio_up_to(self, t: float) -> None:
        if t > self._audio_t:
            self._file.write_audio(self.recording.audio_between(self._audio_t, t),
                                   self.recording.sample_rate, self._audio_t)
            self._audio_t = t

    def close(self) -> None:
        self._audio_up_to(self.recording.duration)
        self._file.close()


class EventLog:
    """An observer writing every event as a JSON line (personal data included: it is the user's
    own file, asked for with ``--events``)."""

    def __init__(self, path: Path, clock_t0: float) -> None:
        self._file: IO[str] = open(path, "w", encoding="utf-8")
        self._t0 = clock_t0

    def __call__(self, event: Event) -> None:
        d = event.to_dict()
        d["session_t"] = round(event.t - self._t0, 4)
        self._file.write(json.dumps(d, ensure_ascii=False, default=str) + "\n")

    def close(self) -> None:
        self._file.close()
