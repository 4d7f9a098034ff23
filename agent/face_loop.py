"""The face loop: one ``FaceState`` per frame on the session clock, to the recording (every
frame), the plugins and the live video sinks (latest frame wins: a slow renderer skips frames,
it never builds a backlog)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from agent.core.channel import Channel, Overflow
from agent.core.face_state import FaceState
from agent.recorder import Recording

log = logging.getLogger(__name__)


class LiveVideo:
    """Renders the newest FaceState off the event loop and hands it to live sinks."""

    def __init__(self, renderer: Any, sinks: list[Any]) -> None:
        self.renderer = renderer
        self.sinks = sinks  # the pipeline's own list: a failed sink leaves it, closed once
        self.queue: Channel[FaceState] = Channel(1, Overflow.LATEST, "live-video")
        self.rendered = 0
        self.first_speaking_at: float | None = None  # session time of the first speaking frame shown

    def offer(self, state: FaceState) -> None:
        self.queue.put_nowait(state)

    async def run(self, clock: Callable[[], float]) -> None:
        async for state in self.queue:
            await asyncio.to_thread(self._show, state)
            self.rendered += 1
            if state.speaking and self.first_speaking_at is None:
                self.first_speaking_at = clock()

    def _show(self, state: FaceState) -> None:
        """Render and write one frame (a worker thread: the encoders and devices block)."""
        image = self.renderer.render([state])[0]
        for sink in list(self.sinks):
            try:
                sink.write(image, state.t)
            except Exception as e:  # a broken window or camera must not end the session
                log.warning("video output %s failed and is closed: %s", getattr(sink, "name", sink), e)
                self.sinks.remove(sink)
                _close_quietly(sink)

    def close(self) -> None:
        """Stop taking frames; the sinks are the pipeline's to close."""
        self.queue.close()


def _close_quietly(sink: Any) -> None:
    try:
        sink.close()
    except Exception:
        log.debug("closing a failed video output failed too", exc_info=True)


class FaceLoop:
    def __init__(self, clock: Callable[[], float], animator: Any, fps: float,
                 recording: Recording | None = None, live: LiveVideo | None = None,
                 on_face: Callable[[FaceState], None] | None = None) -> None:
        self.clock, self.animator, self.fps = clock, animator, fps
        self.recording, self.live, self.on_face = recording, live, on_face
        self.frames = 0
        self.late_frames = 0  # frames computed after their time (catch-up)

    async def run(self) -> None:
        while True:
            now = self.clock()
            state = None
            while self.frames / self.fps <= now:  # every frame is owed to the recording
                state = self.animator.frame(self.frames / self.fps)
                if self.recording is not None:
                    self.recording.add_frame(state)
                self.frames += 1
                if now - state.t > 1.0 / self.fps:
                    self.late_frames += 1
            if state is not None:
                if self.on_face is not None:
                    self.on_face(state)
                if self.live is not None:
                    self.live.offer(state)
            await asyncio.sleep(max(0.0, self.frames / self.fps - self.clock()))
