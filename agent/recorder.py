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

from agent.core.errors import UserError
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
        self._forgotten_end = 0.0  # the end of the audio forget_before let go of
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
        return max(face_end, audio_end, self._forgotten_end)

    @property
    def held_s(self) -> float:
        """Seconds of the agent's audio held in memory."""
        with self._lock:
            return sum(len(a) for _, a in self._audio) / self.sample_rate

    def forget_before(self, t: float) -> None:
        """Audio that ended before ``t`` is in the file already (a live recording): let it go,
        so a session left running holds only its last moments of speech in memory."""
        rate = self.sample_rate
        with self._lock:
            if not self._audio or self._audio[0][0] + len(self._audio[0][1]) / rate > t:
                return
            gone = [(s, a) for s, a in self._audio if s + len(a) / rate <= t]
            self._audio = [(s, a) for s, a in self._audio if s + len(a) / rate > t]
            self._forgotten_end = max(self._forgotten_end, max(s + len(a) / rate for s, a in gone))

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
    up to each frame, so an interrupt never leaves unheard speech in the file.

    The file is a fragmented MP4, so a session cut short keeps what it recorded: when a write
    fails (the disk is full) the file is cut back to its last complete fragment, which plays,
    and ``write`` raises one line saying how much was kept (the live video drops this output
    and the session goes on)."""

    name = "recording"

    def __init__(self, recording: Recording) -> None:
        from render.sinks import VideoFileSink

        self.recording = recording
        self._file = VideoFileSink(recording.path, fps=recording.fps, size=recording.size,
                                   sample_rate=recording.sample_rate, fragmented=True)
        self._audio_t = 0.0
        self._failed = False

    def write(self, frame: np.ndarray, t: float) -> None:
        try:
            self._audio_up_to(t)
            self._file.write(frame, t)
        except OSError as e:
            raise self._stop(e) from None

    def _stop(self, error: OSError) -> UserError:
        """The file cannot grow: release it, keep its complete fragments; the line to show."""
        self._failed = True
        try:
            self._file.close()
        except OSError:
            pass  # the trailer cannot be written either; the fragments before it stand alone
        kept = keep_complete_fragments(self.recording.path)
        return UserError(f"recording to {self.recording.path} stopped ({error.strerror or error}); "
                         f"the file keeps its first {kept:.1f} s and plays")

    def _audio_up_to(self, t: float) -> None:
        if t > self._audio_t:
            self._file.write_audio(self.recording.audio_between(self._audio_t, t),
                                   self.recording.sample_rate, self._audio_t)
            self._audio_t = t
            self.recording.forget_before(t)

    def close(self) -> None:
        if self._failed:
            return
        try:
            self._audio_up_to(self.recording.duration)
            self._file.close()
        except OSError as e:
            log.warning("%s", self._stop(e))


def keep_complete_fragments(path: Path) -> float:
    """Cut a fragmented MP4 that was cut short back to its last complete fragment (a fragment
    is a ``moof`` box and the ``mdat`` after it); returns the seconds it then holds."""
    import struct

    size = path.stat().st_size
    end = pos = 0
    with open(path, "rb") as f:
        while pos + 8 <= size:
            f.seek(pos)
            head = f.read(16)
            box, kind = struct.unpack(">I4s", head[:8])
            if box == 1 and len(head) == 16:
                box = struct.unpack(">Q", head[8:16])[0]
            if box < 8 or pos + box > size:
                break  # the box the disk had no room for
            pos += box
            if kind != b"moof":  # a moof alone has no samples yet: cut before it
                end = pos
    if end < size:
        with open(path, "r+b") as f:
            f.truncate(end)
    try:
        import av

        with av.open(str(path)) as container:
            return float(container.duration or 0) / 1e6
    except Exception:  # noqa: BLE001 - nothing playable was complete yet
        return 0.0


class EventLog:
    """An observer writing every event as a JSON line (personal data included: it is the user's
    own file, asked for with ``--events``). When the disk fills it says so once and stops; the
    lines written before stay."""

    def __init__(self, path: Path, clock_t0: float) -> None:
        self.path = path
        self._file: IO[str] | None = open(path, "w", encoding="utf-8")
        self._t0 = clock_t0

    def __call__(self, event: Event) -> None:
        if self._file is None:
            return
        d = event.to_dict()
        d["session_t"] = round(event.t - self._t0, 4)
        try:
            self._file.write(json.dumps(d, ensure_ascii=False, default=str) + "\n")
        except OSError as e:
            log.warning("events file %s: %s; no more events are written to it", self.path,
                        e.strerror or e)
            self.close()

    def close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass  # the buffered tail had no room; the complete lines before it stay
