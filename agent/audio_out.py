"""Audio output: speakers, a virtual microphone, or a virtual clock for files and tests.

The output is the master clock of the session (ARCHITECTURE rule 4): ``position()`` counts the
samples actually played, so lip-sync schedules mouth shapes against it and barge-in knows how
much of an utterance was heard. ``play`` is bounded (the producer waits, audio is never
dropped); ``cancel`` drops what is queued, fades the sound out within a few milliseconds and
returns how many samples of the current utterance were heard.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import os
import platform
import shutil
import subprocess
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from agent.core.errors import DeviceUnavailable, MissingDependency
from agent.core.speech import SpeechChunk
from agent.core.stages import AudioOutput

log = logging.getLogger(__name__)

DEFAULT_RATE = 22050  # Piper's and espeak-ng's rate: no resampling on the common path
FADE_S = 0.004  # cancel fades out over this long instead of clicking
VIRTUAL_MIC = "agent_mic"


def _resample(chunk: SpeechChunk, rate: int) -> np.ndarray:
    audio = np.asarray(chunk.audio, dtype=np.float32).reshape(-1)
    if chunk.sample_rate == rate or len(audio) == 0:
        return audio
    import soxr

    return soxr.resample(audio, chunk.sample_rate, rate).astype(np.float32)


class _Fifo:
    """Samples waiting for the device; touched by the event loop and the audio thread."""

    def __init__(self) -> None:
        self._parts: collections.deque[np.ndarray] = collections.deque()
        self._head = 0  # samples of _parts[0] already taken
        self.size = 0

    def push(self, audio: np.ndarray) -> None:
        if len(audio):
            self._parts.append(audio)
            self.size += len(audio)

    def pull(self, out: np.ndarray) -> int:
        """Fill ``out`` from the front; returns the number of samples written."""
        n = 0
        while n < len(out) and self._parts:
            part = self._parts[0]
            take = min(len(out) - n, len(part) - self._head)
            out[n:n + take] = part[self._head:self._head + take]
            n += take
            self._head += take
            if self._head == len(part):
                self._parts.popleft()
                self._head = 0
        self.size -= n
        return n

    def cut(self, keep: int) -> int:
        """Keep only the first ``keep`` samples, faded to zero; returns the samples dropped."""
        head = np.zeros(min(keep, self.size), dtype=np.float32)
        self.pull(head)
        dropped = self.size
        self._parts.clear()
        self._head = 0
        self.size = 0
        if len(head):
            self.push(head * np.linspace(1.0, 0.0, len(head), dtype=np.float32))
        return dropped


# ------------------------------------------------------------------------------ device


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError:
        raise MissingDependency("the PortAudio library", "sudo apt-get install libportaudio2") from None
    except ImportError:
        raise MissingDependency("sounddevice", "pip install sounddevice") from None
    return sounddevice


def _pulse_sink_exists(name: str) -> bool:
    if shutil.which("pactl") is None:
        return False
    try:
        out = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True,
                             timeout=3).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.split("\t")[1:2] == [name] for line in out.splitlines())


_routed_sink: str | None = None  # the PULSE_SINK this module set, so it can take it back


def _resolve_device(sd: Any, device: int | str | None) -> int | str | None:
    """A PortAudio device for ``device``; a PulseAudio/PipeWire sink name (the virtual
    microphone) goes through PortAudio's ``pulse`` device with ``PULSE_SINK`` set."""
    global _routed_sink
    if _routed_sink is not None and os.environ.get("PULSE_SINK") == _routed_sink:
        del os.environ["PULSE_SINK"]  # a later output to the speakers must not follow it
    _routed_sink = None
    if device is None or isinstance(device, int):
        return device
    names = [d["name"] for d in sd.query_devices() if d["max_output_channels"] > 0]
    if any(device.lower() in n.lower() for n in names):
        return device
    if "pulse" in names and _pulse_sink_exists(device):
        os.environ["PULSE_SINK"] = _routed_sink = device  # libpulse reads it when the stream connects
        return "pulse"
    hint = ("create it with: scripts/virtual-mic-linux.sh up" if device == VIRTUAL_MIC
            else "list the devices with: python -m sounddevice")
    raise DeviceUnavailable(f"no audio output device {device!r}; {hint}")


class DeviceAudioOutput:
    """Speakers or a virtual microphone through PortAudio (``sounddevice``).

    The device callback pulls samples from a bounded FIFO and records, for each block, when its
    first sample reaches the DAC; ``position`` interpolates between those marks, so it counts
    samples that were played, not samples handed to the driver.
    """

    def __init__(self, device: int | str | None = None, sample_rate: int = DEFAULT_RATE,
                 buffer_s: float = 0.5, block_s: float = 0.01,
                 latency: float | str = "low") -> None:
        sd = _sounddevice()
        self.sample_rate = sample_rate
        self._capacity = int(buffer_s * sample_rate)
        self._fifo = _Fifo()
        self._lock = threading.Lock()
        self._delivered = 0  # real samples handed to the device
        self._marks: collections.deque[tuple[float, int, int]] = collections.deque(maxlen=64)
        self._last_position = 0
        self._utterance_start = 0
        self._generation = 0
        self._cancel_time: float | None = None
        self.cancel_latency: float | None = None  # seconds from cancel() to silence at the DAC
        try:
            self._stream = sd.OutputStream(
                samplerate=sample_rate, blocksize=max(1, int(block_s * sample_rate)), channels=1,
                dtype="float32", device=_resolve_device(sd, device), latency=latency,
                callback=self._callback)
            self._stream.start()
        except DeviceUnavailable:
            raise
        except Exception as e:  # PortAudioError, ValueError: no such device, none at all
            what = f"audio output device {device!r}" if device is not None else "an audio output device"
            raise DeviceUnavailable(f"cannot open {what} ({str(e).splitlines()[0]}); list the "
                                    f"devices with: python -m sounddevice") from None
        self.latency = float(self._stream.latency)

    # -- the audio thread
    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        out = outdata[:, 0]
        with self._lock:
            n = self._fifo.pull(out)
            out[n:] = 0.0
            dac = float(time_info.outputBufferDacTime)
            self._marks.append((dac, self._delivered, n))
            self._delivered += n
            if self._cancel_time is not None and self._fifo.size == 0:
                now = float(time_info.currentTime)
                silent_at = dac + n / self.sample_rate if dac > 0 else now + self.latency
                self.cancel_latency = max(0.0, silent_at - self._cancel_time)
                self._cancel_time = None
        if status:
            log.debug("audio output: %s", status)

    # -- the event loop
    def _played(self) -> int:
        with self._lock:
            marks = list(self._marks)
            delivered = self._delivered
        now = float(self._stream.time) if self._stream.active else 0.0
        played = delivered - int(self.latency * self.sample_rate)
        if marks and marks[-1][0] > 0 and now > 0:
            played = marks[0][1]
            for dac, before, n in marks:
                if dac > now:
                    break
                played = before + min(n, int((now - dac) * self.sample_rate))
        self._last_position = max(self._last_position, min(played, delivered))
        return self._last_position

    def position(self) -> int:
        return self._played()

    def clock(self) -> float:
        return self.position() / self.sample_rate

    def start_utterance(self) -> None:
        with self._lock:
            self._utterance_start = self._delivered + self._fifo.size

    def heard(self) -> int:
        return max(0, self.position() - self._utterance_start)

    async def play(self, chunk: SpeechChunk) -> None:
        audio = _resample(chunk, self.sample_rate)
        generation = self._generation
        offset = 0
        while offset < len(audio):
            with self._lock:
                if generation != self._generation:
                    return  # cancelled while waiting: this chunk belongs to the old utterance
                take = min(self._capacity - self._fifo.size, len(audio) - offset)
                if take > 0:
                    self._fifo.push(audio[offset:offset + take])
                    offset += take
                wait = (len(audio) - offset) / self.sample_rate
            if offset < len(audio):
                await asyncio.sleep(min(0.05, max(0.005, wait)))

    def cancel(self) -> int:
        heard = self.heard()
        with self._lock:
            self._generation += 1
            self._fifo.cut(int(FADE_S * self.sample_rate))
            self._cancel_time = float(self._stream.time)
            self._utterance_start = self._delivered + self._fifo.size
        return heard

    async def drain(self) -> None:
        while True:
            with self._lock:
                queued, delivered = self._fifo.size, self._delivered
            pending = queued + delivered - self.position()
            if pending <= 0:
                return
            await asyncio.sleep(min(0.05, max(0.005, pending / self.sample_rate)))

    async def aclose(self) -> None:
        stream = self._stream
        await asyncio.to_thread(stream.close)


# ------------------------------------------------------------------------------ virtual clock


class VirtualClockOutput:
    """No device: audio is "played" at the sample rate of a clock (file renders and tests).

    With ``realtime=False`` every queued sample counts as played at once (an offline render that
    runs as fast as synthesis). With ``realtime=True`` playback advances with ``now()`` (the
    event loop's clock by default; inject a virtual one in tests) and ``play`` waits while more
    than ``buffer_s`` is queued. The played audio is kept, cut where ``cancel`` stopped it.
    """

    def __init__(self, sample_rate: int = DEFAULT_RATE, realtime: bool = False,
                 now: Callable[[], float] | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 buffer_s: float = 0.5, keep_audio: bool = True) -> None:
        self.sample_rate = sample_rate
        self.realtime = realtime
        self._now = now
        self._sleep = sleep
        self._capacity = int(buffer_s * sample_rate)
        self._keep = keep_audio
        self._parts: list[np.ndarray] = []
        self._queued = 0  # samples accepted (and not dropped)
        self._anchor_pos = 0.0  # position at _anchor_t
        self._anchor_t: float | None = None
        self._utterance_start = 0
        self._generation = 0
        self.cancel_latency: float | None = None

    def _time(self) -> float:
        return self._now() if self._now is not None else asyncio.get_running_loop().time()

    def _advance(self) -> float:
        if not self.realtime:
            return float(self._queued)
        now = self._time()
        if self._anchor_t is None:
            self._anchor_t = now
        pos = min(float(self._queued), self._anchor_pos + (now - self._anchor_t) * self.sample_rate)
        self._anchor_pos, self._anchor_t = pos, now
        return pos

    def position(self) -> int:
        return int(math.floor(self._advance() + 1e-9))

    def clock(self) -> float:
        return self.position() / self.sample_rate

    def start_utterance(self) -> None:
        self._advance()
        self._utterance_start = self._queued

    def heard(self) -> int:
        return max(0, self.position() - self._utterance_start)

    async def play(self, chunk: SpeechChunk) -> None:
        audio = _resample(chunk, self.sample_rate)
        generation = self._generation
        if self.realtime:
            # short steps, as in drain(): a cancel() must free a waiting play() at once, or a
            # paused reply would go on only when this wait had run out
            while self._queued - self._advance() > self._capacity:
                await self._sleep(min(0.02, (self._queued - self._advance() - self._capacity) / self.sample_rate))
                if generation != self._generation:
                    return
        self._advance()  # playback of an idle output starts now, not when it last stopped
        self._queued += len(audio)
        if self._keep:
            self._parts.append(audio)

    def cancel(self) -> int:
        played = self.position()
        heard = max(0, played - self._utterance_start)
        self._generation += 1
        self._queued = played
        self._anchor_pos = float(played)
        self._utterance_start = played
        if self._keep:
            self._parts = [self.audio()[:played]]
        self.cancel_latency = 0.0
        return heard

    async def drain(self) -> None:
        # short steps: a cancel() while draining must end the wait at once, not after the audio
        while self.realtime and self._queued - self._advance() > 0:
            await self._sleep(min(0.02, (self._queued - self._advance()) / self.sample_rate))

    def audio(self) -> np.ndarray:
        """Everything queued and not cancelled, in order (what a file writer saves)."""
        if not self._parts:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._parts)[: self._queued]

    async def aclose(self) -> None:
        return None


# ------------------------------------------------------------------------------ virtual mic


def check_virtual_mic(name: str = VIRTUAL_MIC) -> tuple[bool, str]:
    """Is a virtual microphone there for Zoom/Teams/Meet to pick? (for ``agent doctor``)"""
    system = platform.system()
    if system == "Linux":
        if shutil.which("pactl") is None:
            return False, "no PulseAudio/PipeWire (pactl not found); install pulseaudio-utils"
        try:
            res = subprocess.run(["pactl", "list", "short", "sources"], capture_output=True,
                                 text=True, timeout=3)
        except (OSError, subprocess.SubprocessError) as e:
            return False, f"pactl failed ({e}); is PulseAudio/PipeWire running?"
        if res.returncode != 0:
            return False, "no PulseAudio/PipeWire server answers; start it (pulseaudio --start)"
        sources = [line.split("\t")[1] for line in res.stdout.splitlines() if "\t" in line]
        if f"{name}_source" in sources:
            return True, (f"virtual microphone ready: the agent plays to sink {name!r}, "
                          f"apps pick the microphone 'Agent Mic' ({name}_source)")
        if f"{name}.monitor" in sources:
            return True, (f"virtual microphone sink {name!r} exists; apps pick its monitor "
                          f"({name}.monitor) — run scripts/virtual-mic-linux.sh up for a "
                          f"microphone every app lists")
        return False, "no virtual microphone; create it with: scripts/virtual-mic-linux.sh up"
    wanted = {"Darwin": ("BlackHole", "brew install blackhole-2ch"),
              "Windows": ("CABLE Input", "install VB-CABLE from vb-audio.com")}.get(system)
    if wanted is None:
        return False, f"no virtual microphone support documented for {system}"
    try:
        sd = _sounddevice()
        names = [d["name"] for d in sd.query_devices()]
    except Exception as e:  # noqa: BLE001 - doctor reports, never raises
        return False, f"cannot list audio devices ({e})"
    found = [n for n in names if wanted[0].lower() in n.lower()]
    if found:
        return True, f"virtual microphone ready: play to {found[0]!r}"
    return False, f"no {wanted[0]} device; {wanted[1]} (see docs/virtual-microphone.md)"


def open_output(device: int | str | None = None, sample_rate: int = DEFAULT_RATE) -> AudioOutput:
    """Speakers (``None``), a device by index or name, or the virtual microphone (``agent_mic``)."""
    return DeviceAudioOutput(device=device, sample_rate=sample_rate)
