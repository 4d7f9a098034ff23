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
import functools
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from agent.core.errors import DeviceUnavailable, MissingDependency
from agent.core.speech import SpeechChunk
from agent.core.stages import AudioOutput
from perception.audio_source import RELEASE_S, STARTUP_S, release_stream

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


def _resolve_device(sd: Any, device: int | str | None) -> tuple[int | str | None, str | None]:
    """(PortAudio device, PulseAudio sink to move the stream to) for ``device``. A PulseAudio /
    PipeWire sink name (the virtual microphone) plays through PortAudio's ``pulse`` device and
    is moved onto that sink once connected: nothing process-wide (``PULSE_SINK``) is changed."""
    if device is None or isinstance(device, int):
        return device, None
    names = [d["name"] for d in sd.query_devices() if d["max_output_channels"] > 0]
    if any(device.lower() in n.lower() for n in names):
        return device, None
    if "pulse" in names and _pulse_sink_exists(device):
        return "pulse", device
    hint = ("create it with: scripts/virtual-mic-linux.sh up" if device == VIRTUAL_MIC
            else "list the devices with: python -m sounddevice")
    raise DeviceUnavailable(f"no audio output device {device!r}; {hint}")


def _move_to_sink(sink: str) -> None:
    """Move this process's newest PulseAudio playback stream onto ``sink``."""
    try:
        listing = subprocess.run(["pactl", "list", "sink-inputs"], capture_output=True, text=True,
                                 timeout=3).stdout
        ours = [int(m.group(1)) for m in re.finditer(
            r"^Sink Input #(\d+)$(?:(?!^Sink Input #).)*?application\.process\.id = \"(\d+)\"",
            listing, re.M | re.S) if int(m.group(2)) == os.getpid()]
        if not ours:
            raise DeviceUnavailable(f"cannot route sound to {sink!r}: PulseAudio shows no stream of ours")
        moved = subprocess.run(["pactl", "move-sink-input", str(max(ours)), sink], capture_output=True,
                               text=True, timeout=3)
    except (OSError, subprocess.SubprocessError) as e:
        raise DeviceUnavailable(f"cannot route sound to {sink!r} ({e})") from None
    if moved.returncode != 0:
        raise DeviceUnavailable(f"cannot route sound to {sink!r}: {moved.stderr.strip()[:120]}")


class DeviceAudioOutput:
    """Speakers or a virtual microphone through PortAudio (``sounddevice``).

    The device callback pulls samples from a bounded FIFO and records, for each block, when its
    first sample reaches the DAC; ``position`` interpolates between those marks, so it counts
    samples that were played, not samples handed to the driver.

    A device that goes away mid-session (unplugged, the sound server restarted, the virtual
    microphone removed) is said once in the log; the output then plays on a wall clock, so the
    reply, the mouth and the recording go on, and the device is opened again at the start of
    each later utterance (every ``retry_s`` at most) until it is back.
    """

    def __init__(self, device: int | str | None = None, sample_rate: int = DEFAULT_RATE,
                 buffer_s: float = 0.5, block_s: float = 0.01,
                 latency: float | str = "low", retry_s: float = 2.0, stall_s: float = 3.0) -> None:
        self._sd = _sounddevice()
        self.device = device
        self.sample_rate = sample_rate
        self._block = max(1, int(block_s * sample_rate))
        self._latency_setting = latency
        self._capacity = int(buffer_s * sample_rate)
        self.retry_s, self.stall_s = retry_s, stall_s
        self._lock = threading.Lock()
        self._base = 0  # samples played on streams before this one (and while the device was gone)
        self._utterance_start = 0
        self._generation = 0
        self.cancel_latency: float | None = None  # seconds from cancel() to silence at the DAC
        self._lost: VirtualClockOutput | None = None  # the wall clock standing in for a lost device
        self._lost_at = 0.0
        self._open()

    def _open(self) -> None:
        """A fresh stream with fresh counters; raises ``DeviceUnavailable`` with the fix."""
        sd, device = self._sd, self.device
        self._stream_id = getattr(self, "_stream_id", 0) + 1
        self._fifo = _Fifo()
        self._delivered = 0  # real samples handed to this stream
        self._marks: collections.deque[tuple[float, int, int]] = collections.deque(maxlen=64)
        self._last_position = 0
        self._cancel_time: float | None = None
        self._last_callback = time.monotonic()
        self._called_back = False
        stream = None
        try:
            port_device, sink = _resolve_device(sd, device)
            stream = sd.OutputStream(
                samplerate=self.sample_rate, blocksize=self._block, channels=1, dtype="float32",
                device=port_device, latency=self._latency_setting,
                callback=functools.partial(self._callback, self._stream_id))
            stream.start()
            if sink is not None:
                _move_to_sink(sink)  # the stream plays silence until then: nothing reaches the default sink
        except Exception as e:  # PortAudioError, ValueError: no such device, none at all
            if stream is not None:
                release_stream(stream, "audio-output")
            if isinstance(e, DeviceUnavailable):
                raise
            what = f"audio output device {device!r}" if device is not None else "an audio output device"
            raise DeviceUnavailable(f"cannot open {what} ({str(e).splitlines()[0]}); list the "
                                    f"devices with: python -m sounddevice") from None
        self._stream = stream
        self.latency = float(stream.latency)

    # -- the audio thread
    def _callback(self, stream_id: int, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        out = outdata[:, 0]
        if stream_id != self._stream_id:  # a stream given up on (its device went away): silence
            out[:] = 0.0
            return
        with self._lock:
            self._last_callback = time.monotonic()
            self._called_back = True
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

    # -- losing the device and finding it again
    def _alive(self) -> bool:
        """False once the device has gone (checked where the loop waits on it)."""
        if self._lost is not None:
            return False
        # a stream that has not called back yet may take a few seconds to start (a sound server)
        stall = self.stall_s if self._called_back else max(self.stall_s, STARTUP_S)
        stalled = time.monotonic() - self._last_callback > stall
        if self._stream.active and not stalled:
            return True
        # what was queued for the device is "played" on the wall clock from here, so the
        # reply's timing (the mouth, what was heard) stays as it would have been
        played = self._played()
        with self._lock:
            pending = self._fifo.size + self._delivered - (played - self._base)
            self._fifo = _Fifo()
        self._base = played
        self._lost = VirtualClockOutput(self.sample_rate, realtime=True, keep_audio=False)
        self._lost_at = time.monotonic()
        self._lost.carry(max(0, pending))
        log.warning("audio output %s went away (%s); the agent goes on without sound and tries "
                    "it again at its next reply", self._name, "stopped" if not stalled else "stalled")
        release_stream(self._stream, "audio-output")  # never on the loop: a dead driver can hang
        return False

    def _try_again(self) -> None:
        """At the start of an utterance, while lost: open the device again (every ``retry_s``)."""
        if self._lost is None or time.monotonic() - self._lost_at < self.retry_s:
            return
        self._lost_at = time.monotonic()
        lost = self._lost
        base = self._base + lost.position()
        try:
            self._open()
        except DeviceUnavailable as e:
            log.debug("audio output still gone: %s", e)
            return
        self._base, self._lost = base, None
        self._utterance_start = base
        log.warning("audio output %s is back", self._name)

    @property
    def _name(self) -> str:
        return repr(self.device) if self.device is not None else "(the default device)"

    # -- the event loop
    def _played(self) -> int:
        if self._lost is not None:
            return self._base + self._lost.position()
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
        return self._base + self._last_position

    def position(self) -> int:
        return self._played()

    def clock(self) -> float:
        return self.position() / self.sample_rate

    def start_utterance(self) -> None:
        self._try_again()
        if self._alive():
            with self._lock:
                self._utterance_start = self._base + self._delivered + self._fifo.size
        else:
            assert self._lost is not None
            self._lost.start_utterance()
            self._utterance_start = self._base + self._lost.queued

    def heard(self) -> int:
        return max(0, self.position() - self._utterance_start)

    async def play(self, chunk: SpeechChunk) -> None:
        audio = _resample(chunk, self.sample_rate)
        generation = self._generation
        offset = 0
        while offset < len(audio):
            if not self._alive():
                assert self._lost is not None
                await self._lost.play(SpeechChunk(audio[offset:], self.sample_rate))
                return
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
        self._generation += 1
        if not self._alive():
            assert self._lost is not None
            self._lost.cancel()
            self._utterance_start = self.position()
            return heard
        with self._lock:
            self._fifo.cut(int(FADE_S * self.sample_rate))
            self._cancel_time = float(self._stream.time)
            self._utterance_start = self._base + self._delivered + self._fifo.size
        return heard

    async def drain(self) -> None:
        while self._alive():
            with self._lock:
                queued, delivered = self._fifo.size, self._delivered
            pending = queued + delivered - (self.position() - self._base)
            if pending <= 0:
                return
            await asyncio.sleep(min(0.05, max(0.005, pending / self.sample_rate)))
        assert self._lost is not None
        await self._lost.drain()

    async def aclose(self) -> None:
        if self._lost is None:
            await asyncio.to_thread(release_stream(self._stream, "audio-output").wait, RELEASE_S)


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

    @property
    def queued(self) -> int:
        """Samples accepted and not cancelled (played, or still to play)."""
        return self._queued

    def carry(self, samples: int) -> None:
        """``samples`` already on their way (from a device that went away) play from now on."""
        self._advance()
        self._queued += samples

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
