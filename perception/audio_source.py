"""Audio input behind one pulled interface: ``await source.recv()`` gives the next 32 ms frame.

Every source delivers float32 mono at 16 kHz in frames of 512 samples (what silero-vad wants),
timestamped on the *input clock*: seconds of audio captured since the source started, counted
in samples so it never drifts. ``origin`` is the monotonic time of input t = 0, so
``origin + frame.t`` puts a frame on the session's clock (the echo gate needs that).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent.core.errors import DeviceUnavailable, MissingDependency, UserError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
STARTUP_S = 5.0  # a device's first audio may take this long (a sound server waking up)
FRAME = 512  # samples: 32 ms at 16 kHz
FRAME_S = FRAME / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class AudioFrame:
    samples: np.ndarray  # float32 mono, FRAME samples, 16 kHz
    t: float  # start of the frame, seconds on the input clock

    @property
    def end(self) -> float:
        return self.t + len(self.samples) / SAMPLE_RATE


class AudioSource(Protocol):
    origin: float
    realtime: bool  # frames come at the pace they were spoken (a microphone, a paced file)

    async def recv(self) -> AudioFrame | None: ...

    async def aclose(self) -> None: ...


# ---------------------------------------------------------------- decoding


def load_audio(path: str | Path) -> np.ndarray:
    """Decode any common audio (or a video's audio track) to float32 mono 16 kHz."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"audio file not found: {path} (give an existing .wav/.flac/.mp3/.ogg/.mp4)")
    try:
        import soundfile as sf

        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return to_16k_mono(data, rate)
    except Exception as sf_error:  # not a format libsndfile reads (mp3 in a container, m4a, mp4)
        log.debug("soundfile could not read %s (%s); trying PyAV", path, sf_error)
    return _load_with_av(path)


def _load_with_av(path: Path) -> np.ndarray:
    try:
        import av
    except ImportError:
        raise MissingDependency("PyAV (to decode compressed audio)", "pip install av") from None
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise UserError(f"{path} has no audio track; give a file with sound")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            parts = []
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"cannot decode {path}: {e.__class__.__name__}; convert it to .wav "
                        "(e.g. ffmpeg -i IN -ar 16000 -ac 1 OUT.wav)") from None
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def to_16k_mono(data: np.ndarray, rate: int) -> np.ndarray:
    """(n,) or (n, channels) at ``rate`` → float32 mono 16 kHz (soxr, high quality)."""
    data = np.asarray(data, dtype=np.float32)
    mono = data.mean(axis=1) if data.ndim == 2 else data
    if rate != SAMPLE_RATE:
        import soxr

        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    return np.ascontiguousarray(mono, dtype=np.float32)


# ---------------------------------------------------------------- file / array


class ArrayAudioSource:
    """Frames from audio already in memory: as fast as consumed, or paced at real time.

    Real-time pacing sleeps until each frame's end on ``clock`` (injected, so tests run on a
    virtual clock). The last partial frame is zero-padded.
    """

    def __init__(self, samples: np.ndarray, *, realtime: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self._samples: np.ndarray | None = np.asarray(samples, dtype=np.float32)
        self.realtime = realtime
        self._clock, self._sleep = clock, sleep
        self.origin = 0.0
        self._pos = 0
        self._started = False
        self._closed = False

    async def _load(self) -> np.ndarray:
        assert self._samples is not None
        return self._samples

    async def recv(self) -> AudioFrame | None:
        if self._closed:
            return None
        if not self._started:
            self._samples = await self._load()
            self._started = True
            self.origin = self._clock()
        samples = self._samples
        assert samples is not None
        if self._pos >= len(samples):
            return None
        chunk = samples[self._pos:self._pos + FRAME]
        if len(chunk) < FRAME:
            chunk = np.pad(chunk, (0, FRAME - len(chunk)))
        frame = AudioFrame(np.ascontiguousarray(chunk), self._pos / SAMPLE_RATE)
        self._pos += FRAME
        if self.realtime:
            delay = self.origin + frame.end - self._clock()
            if delay > 0:
                await self._sleep(delay)
        return frame

    @property
    def duration(self) -> float:
        return 0.0 if self._samples is None else len(self._samples) / SAMPLE_RATE

    async def aclose(self) -> None:
        self._closed = True


class FileAudioSource(ArrayAudioSource):
    """A file in any common format or rate, decoded off the event loop on first ``recv``."""

    def __init__(self, path: str | Path, realtime: bool = False, **kw: Any) -> None:
        super().__init__(np.zeros(0, np.float32), realtime=realtime, **kw)
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"--input-audio {self.path}: no such file")
        self._samples = None

    async def _load(self) -> np.ndarray:
        return await asyncio.to_thread(load_audio, self.path)


# ---------------------------------------------------------------- microphone


class FrameBuffer:
    """Cuts captured audio into 512-sample frames stamped by the sample count, in a bounded
    buffer that drops the *oldest* frame when full (and counts it): the capture thread must
    never wait, and for barge-in the newest audio matters most."""

    def __init__(self, max_frames: int = 64) -> None:
        self._buf: collections.deque[AudioFrame] = collections.deque(maxlen=max_frames)
        self._pending = np.zeros(0, np.float32)
        self._captured = 0  # samples at 16 kHz so far: the input clock
        self.dropped = 0
        self.ready = asyncio.Event()

    def push(self, data: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, np.asarray(data, np.float32)])
        while len(self._pending) >= FRAME:
            chunk, self._pending = self._pending[:FRAME], self._pending[FRAME:]
            if len(self._buf) == self._buf.maxlen:
                self.dropped += 1
                if self.dropped == 1:
                    log.warning("microphone: consumer stalled; dropping the oldest audio")
            self._buf.append(AudioFrame(chunk, self._captured / SAMPLE_RATE))
            self._captured += FRAME
        self.ready.set()

    def pop(self) -> AudioFrame | None:
        return self._buf.popleft() if self._buf else None

    def skip_to(self, t: float) -> None:
        """The input clock jumps to ``t`` s (a device that was gone for a while): the gap shows
        up in the frames' ``t``, as a drop does, and the clock never drifts from real time."""
        self._pending = np.zeros(0, np.float32)
        self._captured = max(self._captured, int(t * SAMPLE_RATE) // FRAME * FRAME)

    def __len__(self) -> int:
        return len(self._buf)


class MicrophoneSource:
    """The microphone through sounddevice (PortAudio).

    Overflow policy: the PortAudio callback runs on a real-time thread and must never wait, so
    frames go into a bounded buffer of ``max_frames`` (2 s by default); when the consumer has
    stalled that long, the *oldest* frame is dropped and ``dropped`` counts it (logged once).
    Timestamps stay on the sample clock, so a drop shows up as a gap in ``t``, never as drift.

    A microphone that goes away (unplugged, the sound server restarted) is said once in the log
    and opened again every ``retry_s`` until it is back; meanwhile ``recv`` waits, as it does in
    silence, and the frames after it start where real time has got to.
    """

    def __init__(self, device: str | int | None = None, max_frames: int = 64, *,
                 retry_s: float = 1.0, stall_s: float = 3.0) -> None:
        try:
            import sounddevice as sd
        except (ImportError, OSError):
            raise MissingDependency("sounddevice with PortAudio (for the microphone)",
                                    "pip install sounddevice && sudo apt install libportaudio2") from None
        self._sd = sd
        device = int(device) if isinstance(device, str) and device.isdigit() else device
        try:
            info = sd.query_devices(device, "input")
        except Exception as e:
            raise DeviceUnavailable(
                f"no microphone{f' {device!r}' if device is not None else ''} ({_first_line(e)}): "
                "plug one in, pick another with --audio-device NAME|INDEX (see `python -m "
                "sounddevice`), or run from a file with --input-audio FILE") from None
        self.device = device
        self.name = str(info.get("name", device))
        self._native = int(info.get("default_samplerate") or SAMPLE_RATE)
        self.buffer = FrameBuffer(max_frames)
        self.origin = 0.0
        self.realtime = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None
        self._resampler: Any = None
        self._closed = False
        self.retry_s, self.stall_s = retry_s, stall_s
        self._last_callback = 0.0
        self._called_back = False
        self._stream_id = 0  # which stream's callbacks count (one given up on may still call)
        self._lost_at: float | None = None  # monotonic time the device went away (or was last tried)

    def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        sd = self._sd
        rate = SAMPLE_RATE
        self._stream_id += 1
        self._resampler = None
        try:
            sd.check_input_settings(device=self.device, channels=1, samplerate=SAMPLE_RATE, dtype="float32")
        except Exception:  # the device does not do 16 kHz: capture natively and resample
            import soxr

            rate = self._native
            self._resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
        blocksize = int(round(FRAME * rate / SAMPLE_RATE))
        try:
            stream = sd.InputStream(device=self.device, channels=1, samplerate=rate,
                                    dtype="float32", blocksize=blocksize,
                                    callback=functools.partial(self._callback, self._stream_id))
            if not self.origin:
                self.origin = time.monotonic()
            self._last_callback = time.monotonic()
            self._called_back = False
            stream.start()
        except Exception as e:
            raise DeviceUnavailable(f"cannot open microphone {self.name!r} ({_first_line(e)}): "
                                    "check it is not in use, or pick another with --audio-device") from None
        self._stream = stream

    def _callback(self, stream_id: int, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if stream_id != self._stream_id:  # a stream given up on (its device went away)
            return
        self._last_callback = time.monotonic()
        self._called_back = True
        data = np.array(indata[:, 0], dtype=np.float32)
        if self._resampler is not None:
            data = self._resampler.resample_chunk(data)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.buffer.push, data)

    async def recv(self) -> AudioFrame | None:
        if self._stream is None and not self._closed and self._lost_at is None:
            self._open()
        while (frame := self.buffer.pop()) is None:
            if self._closed:
                return None
            self.buffer.ready.clear()
            try:
                async with asyncio.timeout(self.stall_s / 2):
                    await self.buffer.ready.wait()
            except TimeoutError:
                await self._check()
        return frame

    async def _check(self) -> None:
        """No audio for a while: has the device gone? Then try it again every ``retry_s``."""
        now = time.monotonic()
        stream = self._stream
        # a stream that has not called back yet may take a few seconds to start (a sound server)
        stall = self.stall_s if self._called_back else max(self.stall_s, STARTUP_S)
        if stream is not None and (not stream.active or now - self._last_callback > stall):
            self._stream, self._lost_at = None, now
            log.warning("microphone %r went away; listening again as soon as it is back", self.name)
            release_stream(stream, "microphone")
            return
        if self._lost_at is None or now - self._lost_at < self.retry_s or self._closed:
            return
        self._lost_at = now
        try:
            self._open()
        except DeviceUnavailable as e:
            log.debug("microphone still gone: %s", e)
            return
        self._lost_at = None
        self.buffer.skip_to(time.monotonic() - self.origin)
        log.warning("microphone %r is back", self.name)

    @property
    def dropped(self) -> int:
        return self.buffer.dropped

    async def aclose(self) -> None:
        self._closed = True
        self.buffer.ready.set()
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await asyncio.to_thread(release_stream(stream, "microphone").wait, RELEASE_S)


RELEASE_S = 1.0  # how long a close waits for a device to let go


def release_stream(stream: Any, what: str) -> threading.Event:
    """Abort and close a PortAudio stream in a daemon thread of its own; the event is set once
    it is done. A stream on a device that vanished can leave PortAudio's thread spinning so that
    ``stop()`` never returns: ``abort()`` cancels that thread, and if even that hangs in the
    driver, nothing (not the event loop, not the interpreter's exit) waits for it."""
    done = threading.Event()

    def run() -> None:
        try:
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)
        except Exception as e:  # closing a vanished device must not break shutdown
            log.debug("%s close: %r", what, e)
        finally:
            done.set()

    threading.Thread(target=run, name=f"{what}-release", daemon=True).start()
    return done


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [e.__class__.__name__])[0]
