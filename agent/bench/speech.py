"""Real speech for measuring hearing: espeak-ng and Piper lines laid on a timeline with a room's
echo and background noise, so that every onset is known to the sample.

The perception benchmark, the backchannel head's training script and the tests all draw their
speech from here, so they measure the same thing the same way.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from perception.audio_source import FRAME, SAMPLE_RATE, load_audio

# espeak-ng spells "mm-hm" out as letters ("em em aitch em"); hums are given to it as phonemes
ESPEAK_SPELLING = {"mm-hm": "[[m:'hm:]]", "mm-hmm": "[[m:'hm:]]", "mhm": "[[m'hm]]", "mm": "[[m:m:]]",
                   "hmm": "[[hm::]]"}


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak(text: str, *, voice: str = "en-us", speed: int = 160, pitch: int = 50, amplitude: int = 100,
           cache: Path | None = None) -> np.ndarray:
    """``text`` spoken by the espeak-ng program, 16 kHz mono, trimmed to the voice. With
    ``cache`` the wav is kept there and reused."""
    spoken = ESPEAK_SPELLING.get(text.lower(), text)
    key = hashlib.sha1(f"{spoken}|{voice}|{speed}|{pitch}|{amplitude}".encode()).hexdigest()[:16]
    with tempfile.TemporaryDirectory(prefix="agent-speech-") as tmp:
        path = (cache or Path(tmp)) / f"{key}.wav"
        if not path.exists():
            # the text goes in on stdin: a line that starts with "-" is not an option
            subprocess.run(["espeak-ng", "-w", str(path), "-v", voice, "-s", str(speed), "-p", str(pitch),
                            "-a", str(amplitude), "--stdin"], input=spoken.encode(), check=True,
                           capture_output=True)
        return trim(load_audio(path))


class PiperLines:
    """The project's Piper voice with its sampling noise off, so that a line sounds the same in
    every run (VITS otherwise draws fresh noise per call); ``length_scale`` varies the pace."""

    def __init__(self) -> None:
        from agent.tts.piper import PiperTTS

        self.tts = PiperTTS()

    def say(self, text: str, *, length_scale: float = 1.0) -> np.ndarray:
        import soxr
        from piper import SynthesisConfig

        config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False,
                                 length_scale=length_scale)
        audio = np.concatenate([c.audio_float_array for c in self.tts._voice.synthesize(text, config)])
        return trim(soxr.resample(audio, self.tts.sample_rate, SAMPLE_RATE).astype(np.float32))


def trim(audio: np.ndarray, level: float = 0.01) -> np.ndarray:
    """Cut the synthesizer's leading and trailing silence so the onset is sample 0."""
    loud = np.nonzero(np.abs(audio) > level)[0]
    return audio[loud[0]:loud[-1] + 1].copy() if len(loud) else audio[:0].copy()


def noise(n: int, level_db: float, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Pink-ish background noise (white noise through a one-pole low-pass) at ``level_db`` dBFS RMS."""
    from scipy.signal import lfilter

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    out = lfilter([0.1], [1.0, -0.9], rng.standard_normal(n)).astype(np.float32)
    rms = float(np.sqrt(np.mean(out ** 2))) or 1.0
    return (out / rms * 10 ** (level_db / 20)).astype(np.float32)


def mix(duration: float, parts: list[tuple[float, np.ndarray, float]], *, noise_db: float | None = -45.0,
        seed: int | np.random.Generator = 0) -> np.ndarray:
    """A ``duration``-second signal with each (start s, audio, gain) added in, plus noise."""
    n = int(round(duration * SAMPLE_RATE))
    out = noise(n, noise_db, seed) if noise_db is not None else np.zeros(n, np.float32)
    for start, audio, gain in parts:
        a = int(round(start * SAMPLE_RATE))
        seg = audio[:max(0, n - a)]
        out[a:a + len(seg)] += gain * seg
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def room_echo(audio: np.ndarray, delay: float = 0.06, gain: float = 0.5, seed: int = 1) -> np.ndarray:
    """What a laptop microphone hears of its own speaker: delayed, scaled, low-passed and with a
    short decaying room tail (an exponentially decaying noise impulse response, 120 ms,
    direct-to-reverberant ratio about +4 dB: a speaker a hand away from the microphone)."""
    from scipy.signal import fftconvolve, lfilter

    rng = np.random.default_rng(seed)
    n_ir = int(0.12 * SAMPLE_RATE)
    ir = rng.standard_normal(n_ir) * np.exp(-np.arange(n_ir) / (0.03 * SAMPLE_RATE)) * 0.04
    ir[0] = 1.0
    d = int(delay * SAMPLE_RATE)
    wet = fftconvolve(audio, ir)[:len(audio)]
    wet = lfilter([0.6], [1.0, -0.4], wet)  # a small speaker loses the lows' crispness
    out = np.zeros(len(audio) + d, np.float32)
    out[d:] = wet
    return (gain * out / (np.max(np.abs(out)) or 1.0) * np.max(np.abs(audio))).astype(np.float32)


def wer(reference: str | list[str], hypothesis: str | list[str]) -> float:
    """Word error rate, case and punctuation aside."""
    import jiwer

    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    return float(jiwer.wer(reference, hypothesis, reference_transform=norm, hypothesis_transform=norm))


class TalkOver:
    """The microphone of a room where the agent talks and the user may cut in, closed loop: the
    agent's voice stops when hearing pauses or interrupts it and goes on where it stopped when
    hearing resumes it, as real playback does, so the echo in the microphone is what the agent
    actually said. An ``AudioSource``; the echo reference is pushed as the session pushes it.

    The room is ``room_echo``'s (delay, level, a low-passed 120 ms tail) and the noise ``noise``'s.
    """

    def __init__(self, bus: Any, echo: Any, agent: np.ndarray, agent_at: float, user: np.ndarray | None = None,
                 user_at: float = 0.0, *, delay: float = 0.06, echo_gain: float = 0.5, user_gain: float = 0.5,
                 noise_db: float | None = -45.0, seed: int | np.random.Generator = 0, heard_echo: bool = True,
                 tail: float = 1.5, realtime: bool = False) -> None:
        from agent.core import events as ev

        self.origin = 0.0
        # realtime: frames come at the pace they were spoken (the wall clock counts, as live);
        # else as fast as they are taken (decisions on the input clock only)
        self.realtime = realtime
        self.echo, self.agent, self.heard_echo = echo, np.asarray(agent, np.float32), heard_echo
        end = agent_at + len(agent) / SAMPLE_RATE
        if user is not None:
            end = max(end, user_at + len(user) / SAMPLE_RATE)
        parts = [(user_at, user, user_gain)] if user is not None else []
        self._near = mix(end + tail + 1.0, parts, noise_db=noise_db, seed=seed)  # the user and the room's noise
        self._speaker = np.zeros(len(self._near), np.float32)  # what the speaker plays, as decided
        self._delay = int(round(delay * SAMPLE_RATE))
        rng = np.random.default_rng(1)  # room_echo's room
        n_ir = int(0.12 * SAMPLE_RATE)
        self._ir = rng.standard_normal(n_ir) * np.exp(-np.arange(n_ir) / (0.03 * SAMPLE_RATE)) * 0.04
        self._ir[0] = 1.0
        wet = self._wet(self.agent)
        self._scale = echo_gain * float(np.max(np.abs(self.agent))) / (float(np.max(np.abs(wet))) or 1.0)
        self._sub = bus.subscribe("room", ev.Pause, ev.Resume, ev.Interrupt, maxsize=64)
        self._kinds = {ev.Pause: self._stop, ev.Interrupt: self._interrupted, ev.Resume: self._go_on}
        # called when the agent gives up its turn, as the session then tells hearing it is quiet
        self.on_interrupt: Any = None
        self._pos = 0
        self._said = 0  # samples of the agent's line played up to the current stop
        self._playing_since: tuple[int, int] | None = None  # (sample it started at, offset in the line)
        self._agent_at = int(round(agent_at * SAMPLE_RATE))
        self._started = False
        if not realtime:  # on the input clock from 0; a paced room starts when first listened to
            self._start()

    def _start(self) -> None:
        self._started = True
        if self.realtime:
            import time

            self.origin = time.monotonic()
        self._play(self._agent_at, 0)

    def _wet(self, audio: np.ndarray) -> np.ndarray:
        from scipy.signal import fftconvolve, lfilter

        return lfilter([0.6], [1.0, -0.4], fftconvolve(audio, self._ir)[:len(audio)]).astype(np.float32)

    def _play(self, at: int, offset: int) -> None:
        rest = self.agent[offset:][:max(0, len(self._speaker) - at)]
        self._speaker[at:] = 0.0
        self._speaker[at:at + len(rest)] = rest
        self._playing_since = (at, offset)
        self.echo.push(rest, SAMPLE_RATE, self.origin + at / SAMPLE_RATE)

    def _stop(self) -> None:
        if self._playing_since is not None:
            at, offset = self._playing_since
            self._said = min(len(self.agent), offset + max(0, self._pos - at))
            self._speaker[self._pos:] = 0.0
            self._playing_since = None

    def _interrupted(self) -> None:
        self._stop()
        if self.on_interrupt is not None:
            self.on_interrupt()

    def _go_on(self) -> None:
        if self._playing_since is None and self._said < len(self.agent):
            self._play(self._pos, self._said)

    async def recv(self) -> Any:
        import asyncio
        import time

        from perception.audio_source import AudioFrame

        if not self._started:
            self._start()
        while (event := self._sub.channel.get_nowait()) is not None:
            self._kinds[type(event)]()
        if self._pos + FRAME > len(self._near):
            return None
        n0 = self._pos - self._delay
        history = len(self._ir) + 2000
        lo = max(0, n0 - history)
        window = self._speaker[lo:max(lo, n0 + FRAME)]
        wet = self._wet(window)[-(n0 + FRAME - lo):] if n0 + FRAME > 0 and len(window) else np.zeros(0, np.float32)
        frame = self._near[self._pos:self._pos + FRAME].copy()
        if self.heard_echo and len(wet):
            frame[FRAME - len(wet[-FRAME:]):] += self._scale * wet[-FRAME:]
        out = AudioFrame(np.clip(frame, -1.0, 1.0).astype(np.float32), self._pos / SAMPLE_RATE)
        self._pos += FRAME
        if self.realtime:
            await asyncio.sleep(max(0.0, self.origin + out.end - time.monotonic()))
        return out

    async def aclose(self) -> None:
        return None
