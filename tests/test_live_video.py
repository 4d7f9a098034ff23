"""Live video renders ahead in batches along the animator's schedule, shows exactly the frames the
schedule gives when their time comes, and drops a rendered-ahead frame the moment the schedule
changes under it (a barge-in: the mouth is at rest on the next frame)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from agent.core.face_state import FaceState
from agent.core.speech import PhonemeTiming, SpeechChunk
from agent.core.virtual_time import run_virtual
from agent.face_loop import FaceLoop, LiveVideo, same
from agent.testing import FakeRenderer, FakeSink

FPS = 30.0


@pytest.fixture(scope="module")
def tutor():
    from persona.config import get_persona

    return get_persona("tutor")


class Recorder(FakeRenderer):
    """The fake renderer, remembering every batch it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[FaceState]] = []

    def render(self, states):
        self.batches.append(list(states))
        return super().render(states)


class Shown(FakeSink):
    def __init__(self) -> None:
        super().__init__()
        self.grey: list[tuple[float, int]] = []

    def write(self, frame, t):
        super().write(frame, t)
        self.grey.append((round(t, 4), int(frame[0, 0, 0])))


def talking(seconds: float = 2.0) -> SpeechChunk:
    """A chunk that opens and closes the jaw all through (an /a/ every 0.3 s)."""
    rate = 16000
    phonemes = []
    for k in range(int(seconds / 0.3)):
        phonemes += [PhonemeTiming("a", 0.3 * k, 0.3 * k + 0.15, True),
                     PhonemeTiming("_", 0.3 * k + 0.15, 0.3 * k + 0.3)]
    return SpeechChunk(audio=np.zeros(int(seconds * rate), np.float32), sample_rate=rate, text="a a a",
                       phonemes=tuple(phonemes))


def session(tutor, cut_at: float | None = None, batch: int = 4, seconds: float = 2.5):
    from render.animator import Animator

    animator = Animator(tutor, fps=FPS, seed=3)
    animator.speak(talking(), 0.2)
    renderer, sink = Recorder(), Shown()
    live = LiveVideo(renderer, [sink], batch=batch)

    async def main():
        loop = asyncio.get_running_loop()
        start = loop.time()
        clock = lambda: loop.time() - start  # noqa: E731
        face = FaceLoop(clock, animator, FPS, live=live)
        tasks = [asyncio.create_task(face.run()), asyncio.create_task(live.run(clock))]
        if cut_at is not None:
            await asyncio.sleep(cut_at)
            animator.interrupt(clock())
        await asyncio.sleep(seconds - (cut_at or 0.0))
        live.close()
        tasks[0].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    run_virtual(main)
    # what the schedule gives, as it finally stands, for every frame shown
    truth = {round(k / FPS, 4): int(255 * animator.frame(k / FPS)["jawOpen"]) for k in range(int(seconds * FPS) + 1)}
    return live, renderer, sink, truth


def test_frames_are_rendered_ahead_in_batches_and_shown_as_the_schedule_says(tutor):
    live, renderer, sink, truth = session(tutor)
    assert live.shown >= 60 and live.dropped == 0
    sizes = [len(b) for b in renderer.batches]
    assert max(sizes) == 4 and sizes.count(4) >= 0.8 * len(sizes) - 2  # nearly every call a batch
    assert live.calls < 0.4 * live.shown  # about a quarter of the calls one frame each would take
    for t, grey in sink.grey:  # each frame shown is the schedule's at its time
        assert grey == truth[t], t
    assert len({t for t, _ in sink.grey}) == len(sink.grey)  # no frame twice
    assert live.speaking_fps() > 25


def test_a_barge_in_drops_the_frames_rendered_ahead(tutor):
    live, renderer, sink, truth = session(tutor, cut_at=1.0)
    assert live.dropped >= 1  # the rendered-ahead talking frames were not shown
    for t, grey in sink.grey:
        assert grey == truth[t], t  # after the cut: the mouth at rest, as the schedule now says
    before = [grey for t, grey in sink.grey if t < 1.0]
    after = [grey for t, grey in sink.grey if t > 1.0 + 1.5 / FPS]
    assert after and max(after) < 0.1 * max(before)  # talking before, at rest after


def test_one_frame_a_call_without_batches(tutor):
    live, renderer, sink, truth = session(tutor, batch=1, seconds=1.0)
    assert {len(b) for b in renderer.batches} == {1} and live.calls == live.shown


def test_states_compare_by_what_they_draw():
    a = FaceState(t=1.0).with_weights(jawOpen=0.5)
    assert same(a, FaceState(t=1.0).with_weights(jawOpen=0.5))
    assert not same(a, FaceState(t=1.0).with_weights(jawOpen=0.4))
    assert not same(a, FaceState(t=1.0, head=(0.1, 0.0, 0.0)).with_weights(jawOpen=0.5))
