"""One browser (or any WebRTC peer) talking to the agent: one connection, one session.

``PeerSession.answer`` takes the peer's SDP offer and returns the answer at once; the session
itself is then built by the same pipeline builder as ``agent run`` (its own dialogue, mood, turn
and hearing state; the models shared through the server's ``Models``) with the peer's tracks as
its microphone, camera, speakers and video output, and runs until the peer leaves: the page
says "bye", the connection closes or fails, or the peer's microphone track ends. Everything the
session starts is owned by its ``TaskOwner``; ending it stops the session, closes the pipeline's
devices and the peer connection, each under a deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from agent.core import events as ev
from agent.core.bus import EventBus
from agent.core.tasks import TaskOwner
from agent.serve.audio_out import AgentAudioTrack, PeerAudioOutput
from agent.serve.ice import IceServer, keep_loopback
from agent.serve.inputs import PeerAudioSource, PeerVideoSource, drain
from agent.serve.relay import Relay
from agent.serve.video import AgentVideoTrack, FaceSink

log = logging.getLogger(__name__)

CLOSE_DEADLINE = 2.0
CONNECT_DEADLINE = 30.0  # seconds from the answer to a working connection
MAX_MESSAGE = 4096  # bytes of one data-channel message from the page


@dataclass
class PeerOptions:
    fps: float = 30.0
    size: tuple[int, int] = (512, 512)
    ice_servers: list[IceServer] = field(default_factory=list)
    loopback_media: bool = True  # keep only loopback candidates (a server on loopback)
    llm_backend: str | None = None
    camera: bool = True  # look at the peer's camera when it sends one
    user: str | None = None  # every session remembered as this user (``agent serve --user``)
    # the pipeline builder (tests bring one of fakes); default: ``agent.pipeline.build_pipeline``
    build: Callable[..., Awaitable[Any]] | None = None


class PeerSession:
    def __init__(self, session_id: str, persona: Any, models: Any, options: PeerOptions,
                 on_end: Callable[[PeerSession], None] = lambda s: None,
                 on_ready: Callable[[PeerSession], None] = lambda s: None) -> None:
        self.id = session_id
        # whom the memory keeps this conversation for: the server's --user, else (set by the
        # server from the offer) the name the page signed in with, else nobody known by name
        self.user = options.user or f"anon-{session_id}"
        self.persona = persona
        self.models = models
        self.options = options
        self.started = time.time()
        self.ended: float | None = None
        self.state = "connecting"  # -> live -> ended
        self.end_reason = ""
        self.bus = EventBus()
        self.relay = Relay()
        self.bus.observe(self.relay)
        self.output = PeerAudioOutput()
        self.face = FaceSink(options.size)
        self.video_track = AgentVideoTrack(self.face, options.fps)
        self.audio_track = AgentAudioTrack(self.output)
        self.mic: PeerAudioSource | None = None
        self.camera: PeerVideoSource | None = None
        self.client: dict[str, float] = {}  # what the page reports receiving
        self.owner = TaskOwner(f"peer {session_id}", on_error=self._failed)
        self._on_end = on_end
        self._on_ready = on_ready
        self._connected = asyncio.Event()  # media flows: the greeting can be heard
        self._ready = asyncio.Event()  # the session listens: a Stop now reaches it
        self._gone = asyncio.Event()  # the peer left before or while the session runs
        self._task: asyncio.Task[None] | None = None
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[s.to_aiortc() for s in options.ice_servers]))

    # ------------------------------------------------------------------ signalling
    async def answer(self, sdp: str, kind: str = "offer") -> RTCSessionDescription:
        pc = self.pc
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)
        if self.options.loopback_media:
            sdp = keep_loopback(sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        if self.mic is None:
            raise ValueError("the offer has no audio track: the page must send its microphone")
        pc.addTrack(self.audio_track)
        pc.addTrack(self.video_track)
        await pc.setLocalDescription(await pc.createAnswer())
        self._task = self.owner.spawn(self._run(), "session")
        return pc.localDescription

    def _on_track(self, track: Any) -> None:
        if track.kind == "audio" and self.mic is None:
            self.mic = PeerAudioSource()
            self.owner.spawn(self.mic.pump(track), "microphone")
        elif track.kind == "video" and self.camera is None and self.options.camera:
            self.camera = PeerVideoSource()
            self.owner.spawn(self.camera.pump(track), "camera")
        else:
            self.owner.spawn(drain(track), f"unused {track.kind}")

    def _on_datachannel(self, channel: Any) -> None:
        self.relay.channel = channel
        channel.on("message", self._on_message)
        channel.on("open", lambda: self.relay.send({"type": "session", "id": self.id}))
        if channel.readyState == "open":
            self.relay.send({"type": "session", "id": self.id})

    def _on_message(self, raw: Any) -> None:
        """The page's messages: typed words, what it received, goodbye. Anything else is ignored."""
        if not isinstance(raw, str) or len(raw) > MAX_MESSAGE:
            return
        try:
            msg = json.loads(raw)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        kind = msg.get("type")
        if kind == "text" and isinstance(msg.get("text"), str) and msg["text"].strip():
            self.bus.publish_nowait(ev.UserText(text=msg["text"].strip()[:1000]))
        elif kind == "stats":
            self.client = {k: float(v) for k, v in msg.items()
                           if k != "type" and isinstance(v, (int, float)) and not isinstance(v, bool)}
        elif kind == "bye":
            self.stop("the peer hung up")

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        log.debug("session %s: connection %s", self.id, state)
        if state == "connected" and self.state == "connecting":
            self.state = "live"
            self._connected.set()
        elif state in ("failed", "closed"):
            self.stop(f"connection {state}")

    # ------------------------------------------------------------------ the session
    async def _run(self) -> None:
        from agent.pipeline import PipelineOptions, build_pipeline
        from agent.session import Session

        pipeline = None
        try:
            opts = PipelineOptions(
                audio_source=self.mic, audio_output=self.output, video_source=self.camera,
                # one frame a render call: batches drawn ahead came too late once several
                # sessions and their encoders share the cores, and every late frame was drawn
                # twice (agent bench serve, N=2 on 2 cores: 7.0 fps against 2.9 with batches of 4)
                video_sinks=[self.face], fps=self.options.fps, size=self.options.size, live_batch=1,
                llm_backend=self.options.llm_backend, plugins=[], virtual_camera=False, window=False,
                user=self.user)
            build = self.options.build or build_pipeline
            pipeline = await build(self.persona, opts, self.bus, self.models,
                                   progress=lambda text: log.debug("session %s: %s", self.id, text))
            # the session starts when the peer can hear it: its clock is the audio the peer gets
            if not await self._wait_connected():
                return
            session = Session(pipeline, bus=self.bus, say=lambda text: log.info("session %s: %s", self.id, text))
            runner = self.owner.spawn(session.run(), "run")
            await _first(runner, session.ready)
            self._ready.set()
            self._on_ready(self)
            if self._gone.is_set():
                self.bus.publish_nowait(ev.Stop(reason=self.end_reason))
            await runner
        finally:
            if pipeline is not None:
                await pipeline.aclose(CLOSE_DEADLINE)
            await self._close_peer()

    async def _wait_connected(self) -> bool:
        await _first(self._connected, self._gone, timeout=CONNECT_DEADLINE)
        if not self._connected.is_set():
            self.stop(self.end_reason or f"the peer did not connect within {CONNECT_DEADLINE:.0f} s")
        return self._connected.is_set() and not self._gone.is_set()

    def stop(self, reason: str) -> None:
        """End the session (idempotent): the peer left, or the operator ended it."""
        if self._gone.is_set():
            return
        self.end_reason = reason
        self._gone.set()
        self.relay.channel = None  # nothing more to a peer that is leaving
        log.info("session %s ends: %s", self.id, reason)
        if self._ready.is_set():
            self.bus.publish_nowait(ev.Stop(reason=reason))

    async def _close_peer(self) -> None:
        self._gone.set()
        self.audio_track.stop()
        self.video_track.stop()
        try:
            await asyncio.wait_for(self.pc.close(), CLOSE_DEADLINE)
        except TimeoutError:
            log.warning("session %s: closing the peer connection took longer than %.1f s", self.id, CLOSE_DEADLINE)
        self.state, self.ended = "ended", time.time()
        self.end_reason = self.end_reason or "the session ended"
        self._on_end(self)

    async def aclose(self) -> None:
        """Stop and wait for everything this peer started (the server shutting down)."""
        self.stop("the server is shutting down")
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=CLOSE_DEADLINE * 2)
        await self.owner.aclose(CLOSE_DEADLINE)

    def _failed(self, name: str, exc: BaseException) -> None:
        log.warning("session %s: %s failed: %s", self.id, name, exc)
        self.relay.send({"type": "notice", "text": f"the session failed: {exc}"})
        self.stop(f"{name} failed")

    # ------------------------------------------------------------------ the operator's view
    def info(self, detail: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "persona": self.persona.name,
            "started": _iso(self.started),
            "state": self.state,
            "turns": self.relay.turns,
            "frames_sent": self.video_track.sent,
            "fresh_frames_sent": self.video_track.fresh,
            "audio_seconds_sent": round(self.output.clock(), 3),  # the agent's speech, silence not counted
            "underruns": self.output.underruns,
        }
        if self.camera is not None:
            out["camera_frames_received"] = self.camera.received
        if self.ended is not None:
            out.update(ended=_iso(self.ended), end_reason=self.end_reason)
        if detail:
            out["transcript"] = list(self.relay.transcript)
            out["client"] = dict(self.client)
        return out


async def _first(*what: asyncio.Event | asyncio.Task[Any], timeout: float | None = None) -> None:
    """Wait until one of the events is set or one of the tasks is done (or ``timeout``); the
    waiters made here never outlive the call."""
    waits = [w if isinstance(w, asyncio.Task) else asyncio.ensure_future(w.wait()) for w in what]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w, given in zip(waits, what):
            if w is not given:
                w.cancel()


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
