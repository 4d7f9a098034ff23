"""Where rendered frames go: a video file, a virtual camera, a preview window.

Every sink is paced on the audio clock: frame ``k`` of the output belongs to audio time
``k / fps``. Frames arrive stamped with the audio time they show; a ``Pacer`` turns them into
exactly one frame per tick, repeating the last frame across a gap and dropping frames that
land on a tick already sent, and counts both. Sinks are synchronous; the live loop calls them
from a worker thread.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from agent.core.errors import DeviceUnavailable, MissingDependency, UserError
from agent.core.stages import Sink

log = logging.getLogger(__name__)

VCAM_HELP = ("no virtual camera found; on Linux run `sudo modprobe v4l2loopback devices=1 "
             "exclusive_caps=1 card_label=AgentCam` (package v4l2loopback-dkms), on Windows/macOS "
             "install OBS Studio and start its Virtual Camera once (see docs/virtual-camera.md)")
MAX_FILL_S = 10.0  # a longer gap on the audio clock is jumped, not filled with repeats


class Pacer:
    """One frame per 1/fps of audio clock: repeats across gaps, drops extras, counts both."""

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise UserError(f"fps must be positive (got {fps})")
        self.fps = float(fps)
        self.next_tick: int | None = None
        self.last: np.ndarray | None = None
        self.dropped = 0
        self.duplicated = 0

    def push(self, frame: np.ndarray, t: float) -> list[tuple[np.ndarray, int]]:
        """The (frame, tick) pairs to send now for a frame that shows audio time ``t``."""
        tick = int(round(t * self.fps))
        if self.next_tick is None:
            self.next_tick = tick
        if tick < self.next_tick:
            self.dropped += 1
            return []
        out: list[tuple[np.ndarray, int]] = []
        gap = tick - self.next_tick
        if self.last is not None and 0 < gap <= MAX_FILL_S * self.fps:
            out.extend((self.last, k) for k in range(self.next_tick, tick))
            self.duplicated += gap
        out.append((frame, tick))
        self.next_tick = tick + 1
        self.last = frame
        return out


# ---------------------------------------------------------------------- video file


FILE_RATE = 48000  # AAC pads its last 1024-sample frame: at 48 kHz that stays under a video frame


class VideoFileSink:
    """H.264 (libx264, yuv420p) + AAC in an mp4/mkv/mov; timestamps come from the audio clock,
    so audio and video stay in sync however unevenly frames arrive.

    ``sample_rate`` is the rate of the audio given to ``write_audio``; the file's AAC track is
    always 48 kHz (one continuous resampler, so chunk boundaries leave no clicks).

    ``fragmented``: a fragmented MP4 (a self-contained fragment every second), for recordings
    that may be cut short — a full disk, a killed process: every complete fragment plays.
    """

    def __init__(self, path: str | Path, fps: float = 30, size: tuple[int, int] = (512, 512),
                 sample_rate: int = 22050, crf: int = 20, preset: str = "veryfast",
                 fragmented: bool = False) -> None:
        import av

        self.path = Path(path)
        if self.path.suffix.lower() not in (".mp4", ".mkv", ".mov"):
            raise UserError(f"{self.path}: the video file must end in .mp4, .mkv or .mov")
        if not self.path.parent.exists():
            raise UserError(f"{self.path.parent}: no such folder for the video file")
        width, height = size
        if width % 2 or height % 2:
            raise UserError(f"video size {width}x{height} must be even for yuv420p")
        self.fps = Fraction(fps).limit_denominator(1001)
        self.size = (width, height)
        self.sample_rate = int(sample_rate)
        self._pacer = Pacer(float(fps))
        options = {"movflags": "frag_keyframe+empty_moov+default_base_moof",
                   "frag_duration": "1000000"} if fragmented and self.path.suffix.lower() != ".mkv" else {}
        self._container = av.open(str(self.path), mode="w", options=options)
        self._video = self._container.add_stream("libx264", rate=self.fps)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": str(crf), "preset": preset}
        self._audio = self._container.add_stream("aac", rate=FILE_RATE)
        self._audio.layout = "mono"
        self._resampler = None
        if self.sample_rate != FILE_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(self.sample_rate, FILE_RATE, 1, dtype="float32")
        self._samples = 0  # input-rate samples written so far (the audio clock of the file)
        self._out_samples = 0  # 48 kHz samples handed to the encoder
        self._closed = False

    @property
    def dropped(self) -> int:
        return self._pacer.dropped

    @property
    def duplicated(self) -> int:
        return self._pacer.duplicated

    def write(self, frame: np.ndarray, t: float) -> None:
        import av

        if frame.shape != (self.size[1], self.size[0], 3) or frame.dtype != np.uint8:
            raise UserError(f"frame of shape {frame.shape} {frame.dtype}; the file expects "
                            f"({self.size[1]}, {self.size[0]}, 3) uint8")
        for img, tick in self._pacer.push(frame, t):
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = tick
            for packet in self._video.encode(vf):
                self._container.mux(packet)

    def write_audio(self, audio: np.ndarray, sample_rate: int, t: float) -> None:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if sample_rate != self.sample_rate:
            import soxr

            audio = soxr.resample(audio, sample_rate, self.sample_rate).astype(np.float32)
        start = int(round(t * self.sample_rate))
        if start > self._samples:  # silence between chunks keeps later audio on time
            audio = np.concatenate([np.zeros(start - self._samples, np.float32), audio])
        elif start < self._samples:  # overlap: what is already written wins
            audio = audio[self._samples - start:]
        if audio.size == 0:
            return
        self._samples += audio.size
        self._encode_audio(audio, last=False)

    def _encode_audio(self, audio: np.ndarray, last: bool) -> None:
        import av

        if self._resampler is not None:
            audio = self._resampler.resample_chunk(audio, last=last)
        if audio.size == 0:
            return
        af = av.AudioFrame.from_ndarray(np.clip(audio, -1, 1).astype(np.float32)[None, :], format="flt",
                                        layout="mono")
        af.sample_rate = FILE_RATE
        af.pts = self._out_samples
        self._out_samples += audio.size
        for packet in self._audio.encode(af):
            self._container.mux(packet)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._resampler is not None:
                self._encode_audio(np.zeros(0, np.float32), last=True)
            for stream in (self._video, self._audio):
                for packet in stream.encode(None):
                    self._container.mux(packet)
            self._container.close()
        finally:
            # the encoders' threads (libx264 starts several) end when PyAV frees the streams,
            # not at close: a long-running process must not keep them for every file it wrote
            del self._video, self._audio, self._container
            self._resampler = None
        log.info("wrote %s (%d frames repeated, %d dropped)", self.path, self.duplicated, self.dropped)


# ---------------------------------------------------------------------- virtual camera


class VirtualCameraSink:
    """Frames to a virtual webcam (v4l2loopback, OBS Virtual Camera) that video-call apps see."""

    def __init__(self, fps: float = 30, size: tuple[int, int] = (512, 512), device: str | None = None) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise MissingDependency("pyvirtualcam", "pip install pyvirtualcam") from None
        width, height = size
        try:
            self._cam = pyvirtualcam.Camera(width=width, height=height, fps=fps, device=device,
                                            fmt=pyvirtualcam.PixelFormat.RGB)
        except Exception as e:  # pyvirtualcam raises RuntimeError with a backend-specific text
            log.debug("virtual camera failed: %s", e)
            raise DeviceUnavailable(VCAM_HELP) from None
        self.device = self._cam.device
        self.size = (width, height)
        self._pacer = Pacer(fps)

    @property
    def dropped(self) -> int:
        return self._pacer.dropped

    def write(self, frame: np.ndarray, t: float) -> None:
        for img, _tick in self._pacer.push(frame, t):
            self._cam.send(np.ascontiguousarray(img))

    def write_audio(self, audio: np.ndarray, sample_rate: int, t: float) -> None:
        """Audio goes to the speakers / virtual microphone, not to the camera."""

    def close(self) -> None:
        self._cam.close()


def check_virtual_camera() -> tuple[bool, str]:
    """For ``agent doctor``: whether a virtual camera can be opened, and which one (or how to get one)."""
    try:
        import pyvirtualcam
    except ImportError:
        return False, "pyvirtualcam is not installed; pip install pyvirtualcam"
    try:
        with pyvirtualcam.Camera(width=64, height=64, fps=30) as cam:
            return True, f"{cam.device} ({cam.backend})"
    except Exception:
        return False, VCAM_HELP


# ---------------------------------------------------------------------- preview window


class WindowSink:
    """A preview window: OpenCV highgui when OpenCV has a GUI, else pygame when installed."""

    def __init__(self, fps: float = 30, size: tuple[int, int] = (512, 512), title: str = "agent",
                 mirror: bool = False) -> None:
        """``mirror``: shown left-right flipped, like every webcam self-view."""
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise DeviceUnavailable("no display for the preview window (DISPLAY is not set); "
                                    "use --output out.mp4 or the virtual camera instead")
        self.title = title
        self.mirror = mirror
        self._pacer = Pacer(fps)
        self._show = self._open_cv() or self._open_pygame(size)
        if self._show is None:
            raise DeviceUnavailable("no GUI toolkit for the preview window: OpenCV here is headless "
                                    "and pygame is missing; pip install pygame")

    def _open_cv(self):  # noqa: ANN202 - returns a show function or None
        try:
            import cv2

            cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE)
        except Exception:
            return None
        self._closer = lambda: cv2.destroyWindow(self.title)

        def show(img: np.ndarray) -> None:
            cv2.imshow(self.title, img[:, :, ::-1])
            cv2.waitKey(1)

        return show

    def _open_pygame(self, size: tuple[int, int]):  # noqa: ANN202
        try:
            import pygame
        except ImportError:
            return None
        try:
            pygame.display.init()
            screen = pygame.display.set_mode(size)
            pygame.display.set_caption(self.title)
        except Exception as e:
            raise DeviceUnavailable(f"cannot open a preview window ({e})") from None
        self._closer = pygame.display.quit

        def show(img: np.ndarray) -> None:
            pygame.event.pump()
            screen.blit(pygame.surfarray.make_surface(img.swapaxes(0, 1)), (0, 0))
            pygame.display.flip()

        return show

    @property
    def dropped(self) -> int:
        return self._pacer.dropped

    def write(self, frame: np.ndarray, t: float) -> None:
        pushed = self._pacer.push(frame, t)
        if pushed:  # a preview only needs the newest frame of a burst
            image = pushed[-1][0]
            self._show(np.ascontiguousarray(image[:, ::-1]) if self.mirror else image)

    def write_audio(self, audio: np.ndarray, sample_rate: int, t: float) -> None:
        """A preview window plays no audio."""

    def close(self) -> None:
        self._closer()


# ---------------------------------------------------------------------- several at once


class SinkSet:
    """Several sinks fed the same frames; one failing sink is closed and the rest go on."""

    def __init__(self, sinks: Iterable[Sink], skipped: Sequence[str] = ()) -> None:
        self.sinks = list(sinks)
        self.skipped = list(skipped)

    def write(self, frame: np.ndarray, t: float) -> None:
        for sink in list(self.sinks):
            try:
                sink.write(frame, t)
            except UserError:
                raise
            except Exception as e:
                log.warning("%s failed and was closed: %s", type(sink).__name__, e)
                self._drop(sink)

    def write_audio(self, audio: np.ndarray, sample_rate: int, t: float) -> None:
        for sink in self.sinks:
            sink.write_audio(audio, sample_rate, t)

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as e:  # closing must reach every sink
                log.warning("closing %s: %s", type(sink).__name__, e)
        self.sinks = []

    def _drop(self, sink: Sink) -> None:
        self.sinks.remove(sink)
        try:
            sink.close()
        except Exception:
            log.debug("closing a failed sink", exc_info=True)

    def __enter__(self) -> SinkSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_sinks(spec: str | Sequence[str], fps: float = 30, size: tuple[int, int] = (512, 512),
               sample_rate: int = 22050, strict: bool = False) -> SinkSet:
    """Open the outputs named in ``spec``: ``"vcam"``, ``"window"`` and/or video paths, as a
    list or one comma-separated string (e.g. ``"vcam,out.mp4"``).

    A device that is not there is skipped with one warning line saying how to get it (so the
    agent goes on), unless ``strict``.
    """
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    sinks: list[Sink] = []
    skipped: list[str] = []
    try:
        for item in items:
            kind = item.lower()
            try:
                if kind in ("vcam", "virtual-camera", "camera"):
                    sinks.append(VirtualCameraSink(fps, size))
                elif kind in ("window", "preview"):
                    sinks.append(WindowSink(fps, size))
                elif Path(item).suffix.lower() in (".mp4", ".mkv", ".mov"):
                    sinks.append(VideoFileSink(item, fps, size, sample_rate))
                else:
                    raise UserError(f"unknown output {item!r}; use vcam, window or a path ending in .mp4")
            except DeviceUnavailable as e:
                if strict:
                    raise
                log.warning("%s", e)
                skipped.append(f"{item}: {e}")
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return SinkSet(sinks, skipped)
