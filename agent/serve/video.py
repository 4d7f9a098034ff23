"""The agent's face as a WebRTC video track.

``FaceSink`` is a live video sink (``agent.core.stages.Sink``): the session's render worker
writes each rendered frame into it from its own thread, where the frame also becomes an
``av.VideoFrame`` (the copy stays off the event loop), and the newest frame wins.
``AgentVideoTrack.recv`` sends each new frame as it comes (not faster than twice ``fps``), stamped
with the time it is sent. When the renderer falls behind it waits for the next frame rather
than encode the last one again (a repeat costs the encoder as much as a new frame and shows
nothing new: on a loaded machine that time is better left to the renderer); only after
``REPEAT_AFTER`` seconds without one does it repeat the last frame, so the peer's decoder never
times out. The encoder runs in aiortc's worker threads.
"""

from __future__ import annotations

import asyncio
import fractions
import threading

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

CLOCK_RATE = 90_000  # the RTP video clock
REPEAT_AFTER = 0.5  # seconds without a new frame before the last one is sent again


class FaceSink:
    name = "webrtc video"

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._frame: av.VideoFrame | None = None
        self._fresh = False
        self._wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self.written = 0
        self.closed = False

    def attach(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        """Set ``event`` on ``loop`` whenever a new frame is written."""
        self._wake = (loop, event)

    def write(self, frame: np.ndarray, t: float) -> None:
        video = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[..., :3]), format="rgb24")
        with self._lock:
            self._frame, self._fresh = video, True
            self.written += 1
            wake = self._wake
        if wake is not None and not wake[0].is_closed():
            wake[0].call_soon_threadsafe(wake[1].set)

    def write_audio(self, audio: np.ndarray, sample_rate: int, t: float) -> None:
        pass  # the voice has its own track

    def take(self) -> tuple[av.VideoFrame | None, bool]:
        """The newest frame and whether it is new since the last take."""
        with self._lock:
            fresh, self._fresh = self._fresh, False
            return self._frame, fresh

    def close(self) -> None:
        self.closed = True


class AgentVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, sink: FaceSink, fps: float = 30.0) -> None:
        super().__init__()
        self.sink = sink
        self.fps = fps
        self._start: float | None = None
        self._last = 0.0  # loop time of the last frame sent
        self._new = asyncio.Event()
        self.sent = 0  # frames handed to the encoder
        self.fresh = 0  # of which newly rendered (the rest repeat the previous frame)
        self._blank: av.VideoFrame | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = self._last = loop.time() - 1.0 / self.fps
            self.sink.attach(loop, self._new)
        # frames come at the renderer's pace, each written at its time: half a frame's spacing
        # only keeps a burst (a renderer catching up) from going out faster than the peer shows
        due = self._last + 0.5 / self.fps
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        if not self._new.is_set():
            try:
                await asyncio.wait_for(self._new.wait(), max(0.0, self._last + REPEAT_AFTER - loop.time()))
            except TimeoutError:
                pass
        if self.readyState != "live":
            raise MediaStreamError
        self._new.clear()
        self._last = loop.time()
        frame, fresh = self.sink.take()
        if frame is None:  # before the first render: a dark frame of the right size
            if self._blank is None:
                w, h = self.sink.size
                self._blank = av.VideoFrame.from_ndarray(np.zeros((h, w, 3), np.uint8), format="rgb24")
            frame = self._blank
        # a repeat sends the same frame object again with a new time: aiortc encodes one frame
        # before it asks for the next, so the object is never in two places at once
        frame.pts = int(round((self._last - self._start) * CLOCK_RATE))
        frame.time_base = fractions.Fraction(1, CLOCK_RATE)
        self.sent += 1
        self.fresh += int(fresh)
        return frame
