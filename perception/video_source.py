"""Video sources behind one pulled interface: ``await source.recv()`` gives the newest
``VideoFrame`` (or ``None`` at the end), ``await source.aclose()`` releases the device.

A reader thread owns the device and keeps only the newest frame (latest wins), so an analyser
slower than the camera skips frames instead of building a backlog; ``dropped`` counts the
frames nobody took. A file read without ``realtime`` is the exception: there the reader waits
for the consumer, because offline analysis wants every frame.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.core.errors import DeviceUnavailable, MissingDependency, UserError

log = logging.getLogger(__name__)

Reader = Callable[[], "tuple[np.ndarray, float] | None"]  # (RGB image, seconds) or None at the end


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One RGB uint8 (H, W, 3) image; ``t`` is seconds on the source's clock (``time.monotonic``
    for cameras, the presentation time for files and images); ``index`` counts frames read."""

    image: np.ndarray
    t: float
    index: int = 0


class LatestFrameSource:
    """Runs ``read`` in a daemon thread and hands the newest frame to ``recv``.

    ``wait_for_consumer`` turns latest-wins into lock-step (every frame delivered, the reader
    blocks until the previous one was taken).
    """

    def __init__(self, read: Reader, *, name: str = "video", wait_for_consumer: bool = False,
                 close: Callable[[], None] | None = None) -> None:
        self.name = name
        self.read_frames = 0
        self.delivered = 0
        self.dropped = 0
        self._read, self._release = read, close
        self._wait = wait_for_consumer
        self._cond = threading.Condition()
        self._slot: VideoFrame | None = None
        self._ended = False
        self._stopping = False
        self._error: BaseException | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        # started by the first ``recv``: a file paced at real time starts playing when it is
        # watched, not while the models load
        self._thread = threading.Thread(target=self._run, name=f"{name}-reader", daemon=True)
        self._started = False

    def start(self) -> None:
        """Start reading (``recv`` does this itself)."""
        with self._cond:
            if self._started or self._stopping:
                return
            self._started = True
        self._thread.start()

    # ---------------------------------------------------------------- reader thread
    def _run(self) -> None:
        try:
            while not self._stopping:
                item = self._read()
                if item is None:
                    break
                image, t = item
                with self._cond:
                    if self._wait:
                        self._cond.wait_for(lambda: self._slot is None or self._stopping)
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = VideoFrame(image, float(t), self.read_frames)
                    self.read_frames += 1
                    self._cond.notify_all()
                self._wake()
        except BaseException as e:  # surfaced to the consumer by recv()
            self._error = e
        finally:
            self._release_once()  # in this thread: the device or decoder is never used by two
            with self._cond:
                self._ended = True
                self._cond.notify_all()
            self._wake()

    def _release_once(self) -> None:
        with self._cond:
            release, self._release = self._release, None
        if release is not None:
            try:
                release()
            except Exception:  # releasing a device that already went away
                log.debug("%s: release failed", self.name, exc_info=True)

    def _wake(self) -> None:
        for loop, event in list(self._waiters):
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    # ---------------------------------------------------------------- consumer side
    def _take(self) -> VideoFrame | None:
        with self._cond:
            frame, self._slot = self._slot, None
            if frame is not None:
                self.delivered += 1
                self._cond.notify_all()
            return frame

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended and self._slot is None

    async def recv(self) -> VideoFrame | None:
        """The newest frame not yet returned; ``None`` once the source is exhausted or closed."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        self._waiters.append(entry)
        self.start()
        try:
            while True:
                event.clear()
                frame = self._take()
                if frame is not None:
                    return frame
                if self._error is not None:
                    raise self._error
                if self.ended or self._stopping:
                    return None
                await event.wait()
        finally:
            self._waiters.remove(entry)

    def recv_blocking(self, timeout: float | None = None) -> VideoFrame | None:
        """``recv`` for threads (tests, offline tools)."""
        self.start()
        with self._cond:
            self._cond.wait_for(lambda: self._slot is not None or self._ended or self._stopping,
                                timeout)
        frame = self._take()
        if frame is None and self._error is not None:
            raise self._error
        return frame

    async def aclose(self) -> None:
        self.close()
        if self._started:
            await asyncio.to_thread(self._thread.join, 2.0)
        if self._thread.is_alive():
            log.warning("%s reader did not stop within 2 s", self.name)

    def close(self) -> None:
        """Stop reading; the reader thread releases the device after its current read."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._wake()
        if not self._thread.is_alive():
            self._release_once()


# -------------------------------------------------------------------- concrete sources


class CameraSource(LatestFrameSource):
    """An OpenCV camera (an index, or a device path or stream URL); a missing one raises
    ``DeviceUnavailable`` naming the fix.

    A camera unplugged mid-session (no frame for about a second) is said once in the log; the
    session goes on without seeing, and the camera is looked for every ``retry_s`` until it is
    back, then frames flow again.
    """

    def __init__(self, index: int | str = 0, *, width: int | None = 640, height: int | None = 480,
                 clock: Callable[[], float] = time.monotonic, retry_s: float = 1.0) -> None:
        import cv2

        def open_capture() -> cv2.VideoCapture | None:
            level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our line says it better
            try:
                cap = cv2.VideoCapture(index)
            finally:
                cv2.utils.logging.setLogLevel(level)
            if not cap.isOpened():
                cap.release()
                return None
            if width and height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            return cap

        first = open_capture()
        if first is None:
            where = f"index {index}" if isinstance(index, int) else repr(index)
            raise DeviceUnavailable(f"no camera at {where}: plug one in, choose another "
                                    f"with --camera N, or read a file with --input-video FILE")
        cap: cv2.VideoCapture | None = first
        failures = 0

        def read() -> tuple[np.ndarray, float] | None:
            nonlocal cap, failures
            while not self._stopping:
                if cap is None:
                    if not self._pause(retry_s) or (cap := open_capture()) is None:
                        continue
                    log.warning("camera %s is back", index)
                ok, bgr = cap.read()
                if ok and bgr is not None:
                    failures = 0
                    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), clock()
                failures += 1
                if failures < 30:  # a few bad reads happen; ~1 s of none is a camera gone
                    self._pause(0.03)
                    continue
                log.warning("camera %s stopped delivering frames (unplugged?); the agent goes on "
                            "without seeing you and looks for it every %g s", index, retry_s)
                cap.release()
                cap, failures = None, 0
            return None

        def release() -> None:
            if cap is not None:
                cap.release()

        super().__init__(read, name=f"camera{index}", close=release)

    def _pause(self, seconds: float) -> bool:
        """Sleep in the reader thread unless the source is closing; False when it is."""
        with self._cond:
            self._cond.wait_for(lambda: self._stopping, seconds)
            return not self._stopping


def iter_video(path: str | Path) -> Iterator[tuple[np.ndarray, float]]:
    """Decode a video file to (RGB uint8 image, presentation seconds), with PyAV."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such video file")
    try:
        import av
    except ImportError as e:  # pinned dependency; only a broken install gets here
        raise MissingDependency("PyAV", "pip install av==18.1.0") from e
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise UserError(f"{path}: not a video file FFmpeg can read ({e})") from e
    with container:
        if not container.streams.video:
            raise UserError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or 30)
        for i, frame in enumerate(container.decode(stream)):
            t = float(frame.time) if frame.time is not None else i / rate
            yield frame.to_ndarray(format="rgb24"), t


def video_rate(path: str | Path, default: float = 30.0) -> float:
    """The file's average frame rate (``default`` when it does not say)."""
    import av

    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate if container.streams.video else None
    except av.error.FFmpegError as e:
        raise UserError(f"{path}: not a video file FFmpeg can read ({e})") from e
    return float(rate) if rate else default


class FileVideoSource(LatestFrameSource):
    """A video file. ``realtime`` paces frames at their timestamps (latest wins, like a camera);
    otherwise every frame is delivered as fast as the consumer takes it."""

    def __init__(self, path: str | Path, realtime: bool = False, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        frames = iter_video(path)
        first = next(frames, None)  # fail here, in the caller, on a bad file
        if first is None:
            raise UserError(f"{path}: the video has no frames")
        start: float | None = None

        def read() -> tuple[np.ndarray, float] | None:
            nonlocal first, start
            item = first if first is not None else next(frames, None)
            first = None
            if item is None:
                return None
            if realtime:
                if start is None:
                    start = clock() - item[1]
                delay = start + item[1] - clock()
                if delay > 0:
                    sleep(delay)
            return item

        super().__init__(read, name=f"file:{Path(path).name}", wait_for_consumer=not realtime,
                         close=frames.close)  # type: ignore[attr-defined]  # a generator


class ImageSource(LatestFrameSource):
    """A still image (path or RGB array) delivered ``repeat`` times at ``fps`` timestamps."""

    def __init__(self, image: str | Path | np.ndarray, repeat: int = 1, fps: float = 30.0) -> None:
        rgb = load_image(image) if not isinstance(image, np.ndarray) else _as_rgb(image)
        count = 0

        def read() -> tuple[np.ndarray, float] | None:
            nonlocal count
            if count >= repeat:
                return None
            count += 1
            return rgb, (count - 1) / fps

        super().__init__(read, name="image", wait_for_consumer=True)


def load_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8; a missing or unreadable file is one clear line."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such image file")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"{path}: not an image OpenCV can read (use PNG or JPEG)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise UserError(f"an image must be H×W×3 RGB, got shape {image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image[..., :3])
