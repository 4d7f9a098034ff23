"""The test kit: scripted fakes for every stage, a pipeline made of them, and virtual time.

    from agent.testing import FakeLLM, fake_pipeline, run_virtual

    async def main():
        pipeline = fake_pipeline(reply=["Hello there."])
        ...

Each fake implements the stage's protocol (``agent.core.stages``) with no model behind it, so a
test exercises the real session, responder, turn-taking and face loop around it. The fakes
record what they were given; ``VirtualClockLoop`` (``run_virtual``) jumps over idle time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.core.affect import AffectEstimate
from agent.core.face_state import FaceState
from agent.core.speech import PhonemeTiming, SpeechChunk, WordTiming
from agent.core.stages import Message, Prosody
from agent.core.virtual_time import VirtualClockLoop, run_virtual

__all__ = ["VirtualTimePolicy", "FakeASR", "FakeEngine", "FakeLLM", "FakeRenderer", "FakeSink", "FakeTTS", "FakeVAD",
           "StepProbe", "VirtualClockLoop", "fake_pipeline", "fake_understanding", "run_virtual"]


class VirtualTimePolicy(asyncio.DefaultEventLoopPolicy):
    """New event loops run on virtual time (pytest-asyncio: return one from an
    ``event_loop_policy`` fixture)."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return VirtualClockLoop()


class FakeLLM:
    """Streams a scripted reply in small deltas; records every prompt. ``replies`` are used in
    turn (the last one again once they run out)."""

    name = "fake"
    is_base_model = False

    def __init__(self, *replies: str, delta: int = 5, delay: float = 0.0) -> None:
        self.replies = list(replies) or ["I hear you. Let's look at it together. What went wrong?"]
        self.delta, self.delay = delta, delay
        self.calls: list[list[Message]] = []
        self.closed = False

    async def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                     stop: Sequence[str] = ()) -> AsyncIterator[str]:
        self.calls.append(list(messages))
        reply = self.replies[min(len(self.calls), len(self.replies)) - 1]
        for i in range(0, len(reply), self.delta):
            await asyncio.sleep(self.delay)
            yield reply[i:i + self.delta]

    async def aclose(self) -> None:
        self.closed = True


class FakeTTS:
    """A tone per sentence, ``seconds_per_word`` long, with even word and phoneme timings."""

    name = "fake"

    def __init__(self, sample_rate: int = 16000, seconds_per_word: float = 0.25) -> None:
        self.sample_rate = sample_rate
        self.seconds_per_word = seconds_per_word
        self.said: list[str] = []

    def synthesize(self, text: str, prosody: Prosody,
                   cancel: threading.Event | None = None) -> Iterator[SpeechChunk]:
        if cancel is not None and cancel.is_set():
            return
        self.said.append(text)
        yield speech_chunk(text, self.seconds_per_word * max(1, len(text.split())), self.sample_rate)


def speech_chunk(text: str, seconds: float = 1.0, sample_rate: int = 16000) -> SpeechChunk:
    """A quiet tone with evenly spread word and phoneme timings."""
    n = int(seconds * sample_rate)
    audio = (0.1 * np.sin(2 * np.pi * 220.0 * np.arange(n) / sample_rate)).astype(np.float32)
    words = text.split() or [""]
    step = seconds / len(words)
    return SpeechChunk(audio, sample_rate, text,
                       tuple(PhonemeTiming("a", i * step, (i + 0.5) * step) for i in range(len(words))),
                       tuple(WordTiming(w, i * step, (i + 1) * step) for i, w in enumerate(words)), last=True)


@dataclass
class _Word:
    text: str
    start: float
    end: float
    probability: float = 1.0


@dataclass
class _Result:
    text: str
    words: tuple[_Word, ...] = ()
    language: str = "en"
    compute_s: float = 0.0


class FakeASR:
    """Transcripts from a script, one per utterance in order (then empty)."""

    def __init__(self, *texts: str, compute_s: float = 0.0) -> None:
        self.texts = list(texts)
        self.compute_s = compute_s
        self.heard: list[int] = []  # samples per call

    def transcribe(self, audio: np.ndarray, t0: float = 0.0, *, words: bool = True) -> _Result:
        self.heard.append(len(audio))
        if self.compute_s:
            time.sleep(self.compute_s)
        text = self.texts.pop(0) if self.texts else ""
        step = len(audio) / 16000 / max(1, len(text.split()))
        return _Result(text, tuple(_Word(w, t0 + i * step, t0 + (i + 1) * step)
                                   for i, w in enumerate(text.split())), compute_s=self.compute_s)

    def glance(self, audio: np.ndarray, *, window: float = 1.0, max_tokens: int = 8, prompt: str = "") -> _Result:
        return _Result(self.texts[0] if self.texts else "")


class FakeVAD:
    """Speech where a frame's RMS is above ``threshold``."""

    def __init__(self, threshold: float = 0.02) -> None:
        self.threshold = threshold

    def reset(self) -> None:
        pass

    def prob(self, samples: np.ndarray) -> float:
        return 1.0 if float(np.sqrt(np.mean(np.square(samples)))) > self.threshold else 0.0


class FakeRenderer:
    """Frames whose grey level is the jaw opening; records how many it drew."""

    def __init__(self, size: tuple[int, int] = (64, 64)) -> None:
        self.size = size
        self.rendered = 0
        self.closed = False

    def render(self, states: Sequence[FaceState]) -> np.ndarray:
        self.rendered += len(states)
        w, h = self.size
        return np.stack([np.full((h, w, 3), int(255 * s["jawOpen"]), np.uint8) for s in states])

    def push_audio(self, audio: np.ndarray, sample_rate: int, t: float) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class FakeSink:
    """Keeps (frame shape, t) of every frame written."""

    name = "fake sink"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        self.frames: list[tuple[tuple[int, ...], float]] = []
        self.closed = False

    def write(self, frame: np.ndarray, t: float) -> None:
        self.frames.append((frame.shape, round(t, 3)))

    def write_audio(self, audio: np.ndarray, sample_rate: int, t: float) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class FakeEngine:
    """The emotion engine with no model: the same emotion every turn; records what it was given."""

    def __init__(self, label: str = "joy", intensity: float = 0.6) -> None:
        self.label, self.intensity = label, intensity
        self.calls: list[tuple[str, AffectEstimate | None, float]] = []
        self.state: Any = None

    def context_of(self, agent_text: str, agent_emb: np.ndarray, user_emb: np.ndarray) -> None:
        return None  # nothing reads it

    def respond_to(self, ctx: Any, user_text: str, user_affect: AffectEstimate | None = None,
                   now: float = 0.0) -> Any:
        from persona.emotion import Emotion

        self.calls.append((user_text, user_affect, now))
        self.state = Emotion.from_label(self.label, self.intensity)
        return self.state

    def set_state(self, emotion: Any, now: float) -> None:
        self.state = emotion

    def snapshot(self) -> Any:
        return self.state

    def restore(self, snapshot: Any) -> None:
        self.state = snapshot

    def warm_up(self, ctx: Any) -> None:
        pass


class _FakeTextAffect:
    """Every text reads as upset (V -0.5) with confidence 0.7."""

    def estimate_embedded(self, text: str, emb: np.ndarray, t: float) -> AffectEstimate:
        return AffectEstimate("text", (-0.5, 0.2, -0.1), 0.7, t, "sadness", "words sound upset")


def fake_understanding(engine: FakeEngine | None = None) -> Any:
    """An ``Understanding`` with the real fusion and no models (no MiniLM, no heads)."""
    from agent.understanding import Understanding
    from perception.fusion import AffectFusion

    return Understanding(engine or FakeEngine(), AffectFusion(), _FakeTextAffect(),
                         embed=lambda texts: np.zeros((len(texts), 384), np.float32))


def fake_pipeline(persona: Any = None, *, reply: Sequence[str] = ("Hello there.",), tts: Any = None,
                  realtime: bool = False, voice: bool = True, **fields: Any) -> Any:
    """A conversation pipeline of fakes around the real session: a scripted LLM, the fake
    understanding, ``tts`` (default: ``FakeTTS``) on a virtual-clock output, the real animator.
    ``voice=False``: text only, as ``agent chat``. Other ``Pipeline`` fields by keyword."""
    from agent.audio_out import VirtualClockOutput
    from agent.dialogue import Dialogue
    from agent.pipeline import Pipeline
    from persona.config import get_persona
    from render.animator import Animator

    persona = persona or get_persona("tutor")
    p = Pipeline(persona=persona, understanding=fake_understanding(),
                 dialogue=Dialogue(persona, FakeLLM(" ".join(reply))))
    if voice:
        p.tts = tts or FakeTTS()
        p.output = VirtualClockOutput(p.tts.sample_rate, realtime=realtime, keep_audio=False)
        p.animator = Animator(persona, fps=30, seed=1)
    for name, value in fields.items():
        setattr(p, name, value)
    return p


@dataclass
class StepProbe:
    """Measures every step the event loop runs (each callback, each task step) by the CPU time
    the loop's thread spent in it: what blocks the loop, without counting waits for the GIL or
    the OS scheduler, so the figure holds on a loaded machine. Use as a context manager."""

    slowest: list[tuple[float, str]] = field(default_factory=list)  # (cpu ms, what), worst first
    keep: int = 5

    def __enter__(self) -> StepProbe:
        from asyncio import events

        self._original = events.Handle._run
        probe = self

        def _run(handle: Any) -> None:
            start = time.thread_time()
            try:
                probe._original(handle)
            finally:
                probe._note((time.thread_time() - start) * 1000.0, handle)

        events.Handle._run = _run  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        from asyncio import events

        events.Handle._run = self._original  # type: ignore[method-assign]

    def _note(self, ms: float, handle: Any) -> None:
        if len(self.slowest) < self.keep or ms > self.slowest[-1][0]:
            owner = getattr(getattr(handle, "_callback", None), "__self__", None)
            what = f"task {owner.get_name()}" if isinstance(owner, asyncio.Task) else repr(handle)[:300]
            self.slowest.append((ms, what))
            self.slowest.sort(key=lambda s: -s[0])
            del self.slowest[self.keep:]

    @property
    def worst_ms(self) -> float:
        return self.slowest[0][0] if self.slowest else 0.0
