"""The face loop: one ``FaceState`` per frame on the session clock, to the recording (every
frame), the plugins and the live video sinks, which render ahead in small batches along the
schedule (latest frame wins: a slow renderer skips frames, it never builds a backlog)."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from agent.core.channel import Channel, Overflow
from agent.core.face_state import FaceState
from agent.recorder import Recording

log = logging.getLogger(__name__)


LIVE_BATCH = 4  # frames rendered per call while the schedule holds (about 130 ms at 30 fps)
WAIT_S = 0.25  # longest a frame due waits for the batch it is being drawn in


def same(a: FaceState, b: FaceState) -> bool:
    """Whether two states draw the same picture (the schedule did not change in between)."""
    return (a.t == b.t and a.head == b.head and a.gaze == b.gaze and a.translation == b.translation
            and a.speaking == b.speaking and np.array_equal(a.weights, b.weights))


class LiveVideo:
    """Renders the face off the event loop and hands it to live sinks, ahead in small batches.

    The animator's schedule for the next frames is known (an utterance is scheduled on the audio
    clock before it plays), so the loop hands the next ``batch`` states over one to two batches
    before they are due, and a second worker draws them in one call while the frames due now are
    shown: live video gets the batched renderer's throughput. A frame drawn ahead is shown only
    if its state is still the one the schedule gives when its time comes; a barge-in or a new
    emotion changes the state, the stale picture is dropped and the frame is drawn at once (the
    mouth is at rest on the next frame), and the batches start again from there. The newest
    frame due wins: a slow renderer skips frames, it never builds a backlog.
    """

    def __init__(self, renderer: Any, sinks: list[Any], batch: int = LIVE_BATCH) -> None:
        self.renderer = renderer
        self.sinks = sinks  # the pipeline's own list: a failed sink leaves it, closed once
        self.batch = max(1, int(batch))
        self.queue: Channel[FaceState] = Channel(1, Overflow.LATEST, "live-video")
        # the next frames to draw ahead; a newer batch replaces one not started (it is out of date)
        self._todo: Channel[list[FaceState]] = Channel(1, Overflow.LATEST, "live-video-ahead")
        self._planned: list[float] = []  # loop side: frame times handed over to draw ahead
        self._stale = False  # set when a frame drawn ahead no longer matched the schedule
        self._ready = threading.Condition()  # guards the three below
        self._ahead: dict[float, tuple[FaceState, np.ndarray]] = {}  # drawn, not yet due
        self._busy: set[float] = set()  # being drawn ahead right now
        self._due_t = -math.inf  # the latest frame due
        self._drawing = threading.Lock()  # a renderer is called from one thread at a time
        self.rendered = 0  # frames drawn
        self.calls = 0  # render calls
        self.render_s = 0.0  # time spent in them
        self.shown = 0  # frames written to the sinks
        self.dropped = 0  # frames drawn ahead that the schedule had changed under
        self.speaking_shown: list[float] = []  # clock times of the speaking frames shown
        self.first_speaking_at: float | None = None  # session time of the first speaking frame shown

    def offer(self, state: FaceState,
              upcoming: Callable[[float, int], list[FaceState]] | None = None) -> None:
        """The frame due now; ``upcoming(after_t, n)`` gives the schedule's next ``n`` frames after
        ``after_t`` (called here, on the loop: the animator is not thread-safe)."""
        if self.queue.closed:  # the session is stopping
            return
        if upcoming is not None and self.batch > 1:
            if self._stale:
                self._stale, self._planned = False, []
            self._planned = [t for t in self._planned if t > state.t]
            if len(self._planned) < self.batch:  # keep one to two batches ahead
                ahead = upcoming(self._planned[-1] if self._planned else state.t, self.batch)
                self._planned += [s.t for s in ahead]
                self._todo.put_nowait(ahead)
        self.queue.put_nowait(state)

    async def run(self, clock: Callable[[], float]) -> None:
        """Show the frames due until ``close``, drawing ahead beside it."""
        ahead = asyncio.ensure_future(self._draw_ahead())
        try:
            async for state in self.queue:
                await asyncio.to_thread(self._show, state)
                if state.speaking:
                    self.speaking_shown.append(clock())
                    if self.first_speaking_at is None:
                        self.first_speaking_at = clock()
        finally:
            self._todo.close()
            ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)

    async def _draw_ahead(self) -> None:
        async for states in self._todo:
            with self._ready:
                states = [s for s in states if s.t > self._due_t]  # too late to help
                self._busy = {s.t for s in states}
            if not states:
                continue
            try:
                frames = await asyncio.to_thread(self._render, states)
                with self._ready:
                    for s, frame in zip(states, frames):
                        self._ahead[s.t] = (s, frame)
            finally:
                with self._ready:
                    self._busy = set()
                    self._ready.notify_all()

    def speaking_fps(self) -> float:
        """Frames shown per second while the agent spoke (0 when it never did)."""
        times = self.speaking_shown
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def _show(self, state: FaceState) -> None:
        """Write the frame due: drawn ahead if its state still holds, else drawn now (a worker
        thread: the renderer, the encoders and devices block)."""
        with self._ready:
            self._due_t = state.t
            if state.t in self._busy:  # its batch is being drawn: waiting beats drawing it twice
                self._ready.wait_for(lambda: state.t not in self._busy, WAIT_S)
            kept = self._ahead.pop(state.t, None)
            for t in [t for t in self._ahead if t < state.t]:
                del self._ahead[t]
        if kept is not None and same(kept[0], state):
            image = kept[1]
        else:
            if kept is not None:  # the schedule changed: what was drawn ahead of it is stale
                self.dropped += 1
                self._stale = True
            image = self._render([state])[0]
        self._write(image, state.t)

    def _render(self, states: list[FaceState]) -> np.ndarray:
        with self._drawing:
            start = time.perf_counter()
            frames = self.renderer.render(states)
            self.render_s += time.perf_counter() - start
            self.calls += 1
            self.rendered += len(states)
        return frames

    def _write(self, image: np.ndarray, t: float) -> None:
        self.shown += 1
        for sink in list(self.sinks):
            try:
                sink.write(image, t)
            except Exception as e:  # a broken window or camera must not end the session
                log.warning("video output %s failed and is closed: %s", getattr(sink, "name", sink), e)
                self.sinks.remove(sink)
                _close_quietly(sink)

    def close(self) -> None:
        """Stop taking frames; the sinks are the pipeline's to close."""
        self.queue.close()
        self._todo.close()


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
                    self.live.offer(state, self._upcoming)
            await asyncio.sleep(max(0.0, self.frames / self.fps - self.clock()))

    def _upcoming(self, after_t: float, n: int) -> list[FaceState]:
        """The schedule's next ``n`` frames after ``after_t`` (as it stands now)."""
        k = math.floor(after_t * self.fps + 1e-6) + 1
        return [self.animator.frame(i / self.fps) for i in range(k, k + n)]
