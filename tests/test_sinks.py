"""Sinks: pacing on the audio clock, the mp4 file in sync, missing devices as one clear line."""

from __future__ import annotations

import logging

import av
import numpy as np
import pytest

from agent.core.errors import DeviceUnavailable, UserError
from render import sinks
from render.sinks import Pacer, VideoFileSink, open_sinks


def _frame(value: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    return np.full((size[1], size[0], 3), value, np.uint8)


def test_pacer_sends_one_frame_per_tick_repeating_and_dropping() -> None:
    p = Pacer(10)
    sent = []
    for value, t in ((1, 0.0), (2, 0.1), (3, 0.4), (4, 0.41), (5, 0.5)):
        sent += [(int(f[0, 0, 0]), k) for f, k in p.push(_frame(value), t)]
    assert sent == [(1, 0), (2, 1), (2, 2), (2, 3), (3, 4), (5, 5)]
    assert p.duplicated == 2 and p.dropped == 1


def test_pacer_rejects_a_bad_rate() -> None:
    with pytest.raises(UserError):
        Pacer(0)


def _decode(path: str) -> tuple[list[float], int, int, list[np.ndarray]]:
    with av.open(path) as c:
        frames = [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    with av.open(path) as c:
        rate = c.streams.audio[0].rate
        samples = sum(f.samples for f in c.decode(audio=0))
    return [t for t, _ in frames], samples, rate, [img for _, img in frames]


def test_video_file_is_h264_aac_with_audio_and_video_in_step(tmp_path) -> None:
    path = str(tmp_path / "out.mp4")
    sink = VideoFileSink(path, fps=25, size=(64, 48), sample_rate=48000)
    sr = 48000
    sink.write_audio(np.zeros(sr // 2, np.float32), sr, 0.0)
    sink.write_audio(0.3 * np.ones(sr // 2, np.float32), sr, 0.5)
    # frames arrive unevenly: a gap (repeated) and a burst (the extra one dropped)
    times = [k / 25 for k in range(0, 10)] + [k / 25 for k in range(14, 25)] + [24.2 / 25]
    for i, t in enumerate(times):
        sink.write(_frame(10 * (i % 20)), t)
    sink.close()
    assert sink.duplicated == 4 and sink.dropped == 1
    with av.open(path) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert c.streams.audio[0].codec_context.name == "aac"
    pts, samples, rate, _ = _decode(path)
    assert pts == pytest.approx([k / 25 for k in range(25)])
    assert abs(samples / rate - 1.0) < 1 / 25


def test_video_file_fills_silence_so_later_audio_stays_on_time(tmp_path) -> None:
    path = str(tmp_path / "gap.mp4")
    sr = 48000
    sink = VideoFileSink(path, fps=25, size=(64, 48), sample_rate=sr)
    sink.write_audio(0.5 * np.ones(sr // 4, np.float32), sr, 0.75)  # starts at 0.75 s
    for k in range(25):
        sink.write(_frame(0), k / 25)
    sink.close()
    with av.open(path) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    loud = np.nonzero(np.abs(audio) > 0.25)[0]
    assert abs(loud[0] / sr - 0.75) < 0.01


def test_video_file_bad_inputs_are_one_line_errors(tmp_path) -> None:
    with pytest.raises(UserError, match=r"\.mp4"):
        VideoFileSink(tmp_path / "out.avi")
    with pytest.raises(UserError, match="no such folder"):
        VideoFileSink(tmp_path / "missing" / "out.mp4")
    sink = VideoFileSink(tmp_path / "ok.mp4", size=(64, 48))
    with pytest.raises(UserError, match="expects"):
        sink.write(_frame(0, (32, 32)), 0.0)
    sink.close()


class _NoCamera:
    def __init__(self, *a: object, **k: object) -> None:
        raise RuntimeError("'/dev/video*' not found")


def test_missing_virtual_camera_says_how_to_get_one(monkeypatch) -> None:
    import pyvirtualcam

    monkeypatch.setattr(pyvirtualcam, "Camera", _NoCamera)
    with pytest.raises(DeviceUnavailable, match="v4l2loopback") as e:
        sinks.VirtualCameraSink(30, (64, 48))
    assert "\n" not in str(e.value) and "OBS" in str(e.value)
    ok, detail = sinks.check_virtual_camera()
    assert not ok and "modprobe v4l2loopback" in detail


class _FakeCamera:
    """Stands in for pyvirtualcam.Camera; records what our sink sends."""

    sent: list[np.ndarray] = []

    def __init__(self, width: int, height: int, fps: float, **k: object) -> None:
        self.device, self.backend = "/dev/video9", "v4l2loopback"

    def send(self, frame: np.ndarray) -> None:
        _FakeCamera.sent.append(frame)

    def close(self) -> None: ...

    def __enter__(self) -> _FakeCamera:
        return self

    def __exit__(self, *a: object) -> None: ...


def test_virtual_camera_is_paced_on_the_audio_clock(monkeypatch) -> None:
    import pyvirtualcam

    monkeypatch.setattr(pyvirtualcam, "Camera", _FakeCamera)
    _FakeCamera.sent = []
    cam = sinks.VirtualCameraSink(10, (64, 48))
    for t in (0.0, 0.3, 0.31):
        cam.write(_frame(1), t)
    cam.close()
    assert len(_FakeCamera.sent) == 4 and cam.dropped == 1
    assert sinks.check_virtual_camera() == (True, "/dev/video9 (v4l2loopback)")


def test_window_without_a_display_is_unavailable(monkeypatch) -> None:
    monkeypatch.setattr(sinks.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DeviceUnavailable, match="no display"):
        sinks.WindowSink(30, (64, 48))


def test_open_sinks_skips_a_missing_device_and_goes_on(monkeypatch, tmp_path, caplog) -> None:
    import pyvirtualcam

    monkeypatch.setattr(pyvirtualcam, "Camera", _NoCamera)
    path = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING):
        outs = open_sinks(f"vcam, {path}", fps=25, size=(64, 48), sample_rate=48000)
    assert len(outs.sinks) == 1 and outs.skipped and "v4l2loopback" in caplog.text
    with outs:
        outs.write_audio(np.zeros(4800, np.float32), 48000, 0.0)
        for k in range(3):
            outs.write(_frame(k), k / 25)
    assert path.stat().st_size > 0
    with pytest.raises(DeviceUnavailable):
        open_sinks("vcam", strict=True)
    with pytest.raises(UserError, match="unknown output"):
        open_sinks("hologram")


def test_video_file_resamples_speech_to_48k_without_losing_time(tmp_path) -> None:
    path = str(tmp_path / "speech.mp4")
    sr = 22050
    sink = VideoFileSink(path, fps=30, size=(64, 48), sample_rate=sr)
    tone = (0.4 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)).astype(np.float32)
    for k in range(10):  # ten 0.1 s chunks, the 6th starts late by 0.2 s (a pause)
        piece = tone[k * sr // 10:(k + 1) * sr // 10]
        sink.write_audio(piece, sr, k / 10 + (0.2 if k >= 5 else 0.0))
    for k in range(36):
        sink.write(_frame(0), k / 30)
    sink.close()
    pts, samples, rate, _ = _decode(path)
    assert rate == 48000
    assert abs(samples / rate - 1.2) < 1 / 30 and abs(samples / rate - len(pts) / 30) <= 1 / 30
    with av.open(path) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    quiet = np.abs(audio[int(0.52 * rate):int(0.68 * rate)]).max()
    assert quiet < 0.05 and np.abs(audio[int(0.75 * rate):int(0.85 * rate)]).max() > 0.3
