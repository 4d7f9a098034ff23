"""Audio sources: any common file → 16 kHz mono 32 ms frames on the input clock; real-time pacing
on an injected clock; clear one-line errors for missing files and devices."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.core.errors import DeviceUnavailable, UserError
from perception.audio_source import (
    FRAME,
    SAMPLE_RATE,
    ArrayAudioSource,
    FileAudioSource,
    FrameBuffer,
    MicrophoneSource,
    load_audio,
)


def _tone(rate: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _dominant(audio: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(audio))
    return float(np.argmax(spec) * SAMPLE_RATE / len(audio))


@pytest.mark.parametrize("rate,channels,suffix", [(44100, 2, "wav"), (22050, 1, "flac"), (48000, 2, "ogg")])
def test_files_become_16k_mono(tmp_path: Path, rate: int, channels: int, suffix: str) -> None:
    tone = _tone(rate, 1.0)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    path = tmp_path / f"tone.{suffix}"
    sf.write(path, data, rate)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - SAMPLE_RATE) <= 2
    assert abs(_dominant(audio) - 440.0) < 3.0


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg to make an mp3")
def test_compressed_audio_through_pyav(tmp_path: Path) -> None:
    wav, mp3 = tmp_path / "t.wav", tmp_path / "t.mp3"
    sf.write(wav, _tone(44100, 1.0, 300.0), 44100)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), str(mp3)], check=True)
    audio = load_audio(mp3)
    assert abs(len(audio) / SAMPLE_RATE - 1.0) < 0.1
    assert abs(_dominant(audio) - 300.0) < 5.0


def test_missing_or_broken_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        FileAudioSource(tmp_path / "nope.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(UserError) as e:
        load_audio(bad)
    assert "\n" not in str(e.value) and "bad.wav" in str(e.value)


async def test_frames_are_512_samples_on_the_input_clock(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    sf.write(path, _tone(8000, 0.1), 8000)  # 1600 samples at 16 kHz: 3 full frames + 1 padded
    src = FileAudioSource(path)
    frames = []
    while (f := await src.recv()) is not None:
        frames.append(f)
    assert [round(f.t, 3) for f in frames] == [0.0, 0.032, 0.064, 0.096]
    assert all(len(f.samples) == FRAME and f.samples.dtype == np.float32 for f in frames)
    assert not np.any(frames[-1].samples[1600 - 3 * FRAME:])  # the padding is silence
    await src.aclose()
    assert await src.recv() is None


async def test_realtime_pacing_follows_the_injected_clock() -> None:
    now = [100.0]
    sleeps: list[float] = []

    async def sleep(d: float) -> None:
        sleeps.append(d)
        now[0] += d

    src = ArrayAudioSource(np.zeros(FRAME * 10, np.float32), realtime=True, clock=lambda: now[0], sleep=sleep)
    n = 0
    while (f := await src.recv()) is not None:
        n += 1
        assert now[0] == pytest.approx(100.0 + f.end)  # delivered when its last sample was "captured"
    assert n == 10 and src.origin == 100.0
    assert sum(sleeps) == pytest.approx(10 * FRAME / SAMPLE_RATE)


async def test_as_fast_as_consumed_never_sleeps() -> None:
    async def sleep(d: float) -> None:
        raise AssertionError("slept")

    src = ArrayAudioSource(np.zeros(FRAME * 4, np.float32), realtime=False, sleep=sleep)
    while await src.recv() is not None:
        pass


def test_missing_microphone_names_the_fix() -> None:
    with pytest.raises(DeviceUnavailable) as e:
        MicrophoneSource(device="no such microphone 1234")
    msg = str(e.value)
    assert "\n" not in msg and "--audio-device" in msg and "--input-audio" in msg


def test_microphone_buffer_drops_oldest_and_counts() -> None:
    """What the PortAudio callback feeds: frames cut at 512 samples, stamped by the sample
    count; a stalled consumer loses the oldest audio, counted, and the clock shows the gap."""
    buf = FrameBuffer(max_frames=3)
    buf.push(np.ones(FRAME * 2 + 100, np.float32))
    buf.push(np.ones(FRAME * 3, np.float32))
    assert buf.dropped == 2 and len(buf) == 3
    assert [round(buf.pop().t, 3) for _ in range(3)] == [0.064, 0.096, 0.128]
    assert buf.pop() is None
