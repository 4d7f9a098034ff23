"""The test kit for plugin authors: a scripted agent, in virtual time, with no devices.

    from plugins.testing import Timeline, run_plugin

    def test_my_plugin():
        timeline = (Timeline()
                    .at(0.0, AgentEmotion(label="joy", vad=(0.8, 0.5, 0.4), intensity=0.7))
                    .faces(0.0, 2.0, fps=60)
                    .speech(0.5, fake_speech("hello there", seconds=1.0)))
        run = run_plugin(MyPlugin(), timeline)
        assert run.status == "stopped" and not run.errors

``run_plugin`` plays the timeline through a real ``EventBus`` and ``PluginHost`` on an event loop
whose clock jumps over idle time, so a 30 s script runs in milliseconds and the same way every
time, and returns what the plugin sent back (commands, interrupts) and what the host saw
(failures, callbacks delivered, items dropped).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.core.bus import EventBus
from agent.core.events import Event, Interrupt, Notice, PluginCommand
from agent.core.face_state import FaceState
from agent.core.speech import PhonemeTiming, SpeechChunk, WordTiming
from agent.core.tasks import TaskOwner
from agent.core.virtual_time import run_virtual
from plugins.api import Plugin
from plugins.host import PluginHost, Timeouts


@dataclass(frozen=True)
class SpeechAt:
    chunk: SpeechChunk


@dataclass
class Timeline:
    """A script of what the agent does: events, face frames and speech at times in seconds."""

    items: list[tuple[float, Any]] = field(default_factory=list)

    def at(self, t: float, item: Event | FaceState) -> Timeline:
        self.items.append((t, item))
        return self

    def faces(self, start: float, end: float, fps: float = 60.0,
              make: Callable[[float], FaceState] | None = None) -> Timeline:
        """Face frames every 1/fps s; ``make(t)`` builds each (default: talking mouth, nodding head)."""
        make = make or default_face
        n = int(round((end - start) * fps))
        for i in range(n + 1):
            t = start + i / fps
            self.items.append((t, make(t)))
        return self

    def speech(self, t: float, chunk: SpeechChunk) -> Timeline:
        self.items.append((t, SpeechAt(chunk)))
        return self

    @property
    def duration(self) -> float:
        return max((t for t, _ in self.items), default=0.0)


def default_face(t: float) -> FaceState:
    """A plausible frame: jaw opening at ~4 Hz syllable rate, a slow nod and a side glance."""
    jaw = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t)
    pitch = 0.1 * np.sin(2 * np.pi * 0.5 * t)
    return FaceState(t=t, head=(float(pitch), 0.0, 0.0), gaze=(0.1, 0.0), speaking=True).with_weights(
        jawOpen=float(jaw), browInnerUp=0.3)


def fake_speech(text: str, seconds: float = 1.0, sample_rate: int = 16000) -> SpeechChunk:
    """A speech chunk with a quiet tone and evenly spread word/phoneme timings (no TTS needed)."""
    n = int(seconds * sample_rate)
    audio = (0.1 * np.sin(2 * np.pi * 220.0 * np.arange(n) / sample_rate)).astype(np.float32)
    words = text.split() or [""]
    step = seconds / len(words)
    word_t = tuple(WordTiming(w, i * step, (i + 1) * step) for i, w in enumerate(words))
    phon = tuple(PhonemeTiming("a", i * step, (i + 0.5) * step) for i in range(len(words)))
    return SpeechChunk(audio=audio, sample_rate=sample_rate, text=text, phonemes=phon, words=word_t,
                       last=True)


@dataclass
class PluginRun:
    """What happened in ``run_plugin``."""

    plugin: Plugin
    status: str  # "stopped" when the plugin survived the script; else "disabled" / "failed"
    commands: list[PluginCommand]
    interrupts: list[Interrupt]
    errors: list[str]  # the host's one-line failure reports (Notice events)
    stats: dict[str, int]


async def play(timeline: Timeline, bus: EventBus, host: PluginHost) -> None:
    """Deliver the timeline's items at their times on the running loop's clock."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for t, item in sorted(timeline.items, key=lambda ti: ti[0]):
        wait = t0 + t - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if isinstance(item, FaceState):
            host.face(item)
        elif isinstance(item, SpeechAt):
            host.speech(item.chunk, loop.time())
        else:
            await bus.publish(item)


def run_plugin(plugin: Plugin, timeline: Timeline, *, settle: float = 1.0, policy: str = "disable",
               timeouts: Timeouts | None = None) -> PluginRun:
    """Run ``plugin`` through ``timeline`` in virtual time and report what it did.

    ``settle``: seconds (virtual) to keep running after the last item. Call it from a plain
    (not ``async``) test: it runs its own event loop.
    """

    async def main() -> PluginRun:
        bus = EventBus()
        sent = bus.subscribe("test-kit", PluginCommand, Notice, maxsize=10_000)
        owner = TaskOwner("test-kit")
        host = PluginHost(bus, owner, policy, timeouts=timeouts or Timeouts())
        host.add(plugin)
        name = next(iter(host.status()))
        await host.start(strict=True)
        await play(timeline, bus, host)
        await asyncio.sleep(settle)
        await host.stop()
        status = host.status()[name]
        await owner.aclose()
        commands, interrupts, errors = [], [], []
        while (ev := sent.channel.get_nowait()) is not None:
            if isinstance(ev, PluginCommand):
                commands.append(ev)
            elif isinstance(ev, Interrupt):
                interrupts.append(ev)
            elif isinstance(ev, Notice):
                errors.append(ev.text)
        return PluginRun(host.plugin(name), status, commands, interrupts, errors, host.stats(name))

    return run_virtual(main)
