"""The peer's microphone and camera as the pipeline's audio source and camera.

aiortc queues every decoded frame of a received track without bound until someone reads it
(aiortc#554), so each track is read from the moment it arrives by a pump the peer's session
owns, into a bounded buffer: the microphone's 32 ms frames drop the oldest when the session is
not reading yet (while its models warm up), the camera keeps only the newest frame. The input
clock counts the samples of the peer's stream by their RTP timestamps, so a lost packet becomes
silence of its length instead of shifting every later word.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import numpy as np
from aiortc.mediastreams import MediaStreamError

from perception.audio_source import SAMPLE_RATE, AudioFrame, FrameBuffer
from perception.video_source import VideoFrame

log = logging.getLogger(__name__)

MAX_GAP_S = 1.0  # a longer hole in the RTP timestamps is a restart, not lost packets


class PeerAudioSource:
    """``perception.audio_source.AudioSource`` over a received WebRTC audio track."""

    realtime = True

    def __init__(self, max_frames: int = 64) -> None:
        self.origin = time.monotonic()  # reset at the first frame received
        self._buffer = FrameBuffer(max_frames)
        self._resampler: Any = None
        self._next_pts: int | None = None
        self._ended = False
        self.received_s = 0.0

    async def pump(self, track: Any) -> None:
        """Read ``track`` until it ends (the peer hung up or the connection dropped)."""
        try:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    break
                self._push(frame)
        finally:
            self._ended = True
            self._buffer.ready.set()

    def _push(self, frame: Any) -> None:
        import soxr

        rate = int(frame.sample_rate)
        pcm = frame.to_ndarray()  # (1, samples * channels) interleaved s16, or (channels, samples)
        channels = len(frame.layout.channels)
        mono = pcm.reshape(-1, channels).mean(axis=1) if pcm.shape[0] == 1 else pcm.mean(axis=0)
        mono = mono.astype(np.float32) / 32768.0
        if self._next_pts is None:
            self.origin = time.monotonic() - len(mono) / rate
            self._resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
        elif frame.pts is not None and 0 < frame.pts - self._next_pts <= MAX_GAP_S * rate:
            self._buffer.push(self._resampler.resample_chunk(np.zeros(frame.pts - self._next_pts, np.float32)))
        if frame.pts is not None:
            self._next_pts = frame.pts + len(mono)
        self.received_s += len(mono) / rate
        self._buffer.push(self._resampler.resample_chunk(mono))

    async def recv(self) -> AudioFrame | None:
        while True:
            frame = self._buffer.pop()
            if frame is not None:
                return frame
            if self._ended:
                return None
            self._buffer.ready.clear()
            await self._buffer.ready.wait()

    async def aclose(self) -> None:
        self._ended = True
        self._buffer.ready.set()


class PeerVideoSource:
    """The peer's camera for ``perception.seeing``: the newest frame, as RGB, converted in a
    worker thread (a VGA frame's YUV → RGB takes a few milliseconds)."""

    def __init__(self) -> None:
        self._frame: Any = None
        self._new = asyncio.Event()
        self._ended = False
        self.index = 0
        self.received = 0

    async def pump(self, track: Any) -> None:
        try:
            while True:
                try:
                    self._frame = await track.recv()
                except MediaStreamError:
                    break
                self.received += 1
                self._new.set()
        finally:
            self._ended = True
            self._new.set()

    async def recv(self) -> VideoFrame | None:
        while not self._ended:
            await self._new.wait()
            self._new.clear()
            frame, self._frame = self._frame, None
            if frame is None:
                continue
            image = await asyncio.to_thread(frame.to_ndarray, format="rgb24")
            self.index += 1
            return VideoFrame(image, time.monotonic(), self.index)
        return None

    async def aclose(self) -> None:
        self._ended = True
        self._new.set()


async def drain(track: Any) -> None:
    """Read and drop a track nobody needs (aiortc would queue it in memory)."""
    try:
        while True:
            await track.recv()
    except MediaStreamError:
        pass
