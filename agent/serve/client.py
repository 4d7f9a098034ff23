"""A scripted WebRTC peer for ``agent serve``: what ``agent bench serve`` and the tests talk with.

It does what the page does, from Python (aiortc): sends a microphone track (silence, or the
speech it is told to say, paced at real time), receives the agent's voice and face, reads the
data channel, and measures from its own side: when its speech ended, when the agent's voice
first came back after that, how many video frames arrived.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from collections.abc import Callable
from typing import Any

import av
import httpx
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from agent.core.tasks import TaskOwner

RATE = 48_000
FRAME = 960  # 20 ms
VOICE_RMS = 0.01  # a received 20 ms frame louder than this is the agent talking


class MicTrack(MediaStreamTrack):
    """Silence, and whatever ``say`` queues, in 20 ms frames at real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue = np.zeros(0, np.float32)
        self._start: float | None = None
        self._n = 0
        self.speech_ended: float | None = None  # loop time its last queued sample went out
        self._ends_at: int | None = None

    def say(self, samples: np.ndarray) -> None:
        """Queue 48 kHz mono float speech after what is queued."""
        self._queue = np.concatenate([self._queue, np.asarray(samples, np.float32)])
        self.speech_ended = None
        self._ends_at = self._n * FRAME + len(self._queue)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._n * FRAME / RATE
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        out = np.zeros(FRAME, np.float32)
        take = min(FRAME, len(self._queue))
        out[:take], self._queue = self._queue[:take], self._queue[take:]
        self._n += 1
        if self._ends_at is not None and self._n * FRAME >= self._ends_at:
            self.speech_ended = self._start + self._ends_at / RATE  # when its last sample was due
            self._ends_at = None
        frame = av.AudioFrame.from_ndarray((out * 32767).astype(np.int16).reshape(1, -1), format="s16",
                                           layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, (self._n - 1) * FRAME, fractions.Fraction(1, RATE)
        return frame


class ScriptedPeer:
    def __init__(self, base_url: str, token: str | None = None, user: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.user = user  # the name the page would sign in with
        self.token = token
        self.pc = RTCPeerConnection()
        self.mic = MicTrack()
        self.id = ""
        self.messages: list[dict[str, Any]] = []
        self.voice_at: list[float] = []  # loop times of received frames with the agent's voice
        self.audio_frames = 0
        self.video_times: list[float] = []  # loop times of received video frames
        self.owner = TaskOwner("scripted peer")
        self._arrived = asyncio.Event()
        self.channel: Any = None

    async def connect(self) -> None:
        pc = self.pc
        pc.addTrack(self.mic)
        pc.addTransceiver("video", direction="recvonly")
        self.channel = pc.createDataChannel("events")
        self.channel.on("message", self._on_message)
        pc.on("track", self._on_track)
        await pc.setLocalDescription(await pc.createOffer())
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with httpx.AsyncClient(timeout=30.0) as http:
            offer = {"sdp": pc.localDescription.sdp, "type": "offer"}
            res = await http.post(f"{self.base_url}/api/offer", headers=headers,
                                  json=offer | ({"user": self.user} if self.user else {}))
        body = res.json()
        if res.status_code != 200:
            raise RuntimeError(f"the server refused the offer: {res.status_code} {body.get('error')}")
        self.id = body["id"]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))

    def _on_message(self, raw: Any) -> None:
        try:
            self.messages.append(json.loads(raw))
        except (TypeError, ValueError):
            return
        self._arrived.set()

    def _on_track(self, track: Any) -> None:
        self.owner.spawn(self._read_audio(track) if track.kind == "audio" else self._read_video(track), track.kind)

    async def _read_audio(self, track: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                self.audio_frames += 1
                pcm = frame.to_ndarray().astype(np.float32) / 32768.0
                if float(np.sqrt(np.mean(pcm * pcm))) > VOICE_RMS:
                    self.voice_at.append(loop.time())
        except MediaStreamError:
            pass

    async def _read_video(self, track: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await track.recv()
                self.video_times.append(loop.time())
        except MediaStreamError:
            pass

    async def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float, after: int = 0) -> dict[str, Any]:
        """The first message from index ``after`` on that ``match``es, waiting up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            for msg in self.messages[after:]:
                if match(msg):
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                kinds = [m.get("type") for m in self.messages]
                raise TimeoutError(f"no such message within {timeout:.0f} s; got {kinds}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                pass

    async def say(self, samples: np.ndarray) -> float:
        """Say ``samples`` (48 kHz mono); returns the loop time its last sample went out."""
        self.mic.say(samples)
        while self.mic.speech_ended is None:
            await asyncio.sleep(0.01)
        return self.mic.speech_ended

    def first_voice_after(self, t: float) -> float | None:
        return next((v for v in self.voice_at if v > t), None)

    def fps(self, start: float, end: float) -> float:
        n = sum(1 for v in self.video_times if start <= v < end)
        return n / (end - start) if end > start else 0.0

    def hang_up(self) -> None:
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(json.dumps({"type": "bye"}))

    async def aclose(self) -> None:
        self.mic.stop()
        await self.pc.close()
        await self.owner.aclose(2.0)
