"""Real speech for perception tests: espeak-ng sentences, cached as wavs per test session, and
helpers to lay them out on a timeline with noise and silence (the true onsets are known)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from perception.audio_source import SAMPLE_RATE, load_audio

SENTENCES = (
    "The weather is lovely today, so we walked to the park.",
    "Can you tell me how the engine works?",
    "I would like two cups of coffee and a glass of water.",
    "Please open the window before the meeting starts.",
)


class Speech:
    """espeak-ng synthesis (the real TTS the project can fall back on), trimmed to the voice."""

    def __init__(self, cache: Path) -> None:
        if shutil.which("espeak-ng") is None:
            pytest.skip("espeak-ng is not installed (apt install espeak-ng)")
        self.cache = cache

    def say(self, text: str, *, voice: str = "en-us", speed: int = 160, pitch: int = 50,
            amplitude: int = 100) -> np.ndarray:
        key = hashlib.sha1(f"{text}|{voice}|{speed}|{pitch}|{amplitude}".encode()).hexdigest()[:16]
        path = self.cache / f"{key}.wav"
        if not path.exists():
            subprocess.run(["espeak-ng", "-w", str(path), "-v", voice, "-s", str(speed),
                            "-p", str(pitch), "-a", str(amplitude), text], check=True, capture_output=True)
        return trim(load_audio(path))


def trim(audio: np.ndarray, level: float = 0.01) -> np.ndarray:
    """Cut the synthesizer's leading and trailing silence so the onset is sample 0."""
    loud = np.nonzero(np.abs(audio) > level)[0]
    return audio[loud[0]:loud[-1] + 1].copy() if len(loud) else audio[:0].copy()


def noise(n: int, level_db: float, seed: int = 0) -> np.ndarray:
    """Pink-ish background noise (white noise through a one-pole low-pass) at ``level_db`` dBFS RMS."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    out = lfilter([0.1], [1.0, -0.9], rng.standard_normal(n)).astype(np.float32)
    rms = float(np.sqrt(np.mean(out ** 2))) or 1.0
    return (out / rms * 10 ** (level_db / 20)).astype(np.float32)


def mix(duration: float, parts: list[tuple[float, np.ndarray, float]], *, noise_db: float | None = -45.0,
        seed: int = 0) -> np.ndarray:
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


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    return float(jiwer.wer(reference, hypothesis, reference_transform=norm, hypothesis_transform=norm))


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    return Speech(tmp_path_factory.mktemp("speech"))
