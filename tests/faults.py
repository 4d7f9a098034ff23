"""A real session for the fault matrix (tests/test_faults*.py): the test kit's fakes where a
model is not the point, and around them the real session, responder, turn-taking, plugin host,
live video and a real recording into a fragmented MP4 that must stay playable."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.core import events as ev
from agent.core.bus import EventBus
from agent.recorder import Recording, RecordingSink
from agent.session import Report, Session
from agent.testing import FakeRenderer, fake_pipeline

SIZE = (64, 64)


@dataclass
class Running:
    """A session under test: its pipeline, bus, every event seen, and the task running it."""

    parts: Any
    bus: EventBus
    session: Session
    runner: asyncio.Task[Report]
    seen: list[ev.Event] = field(default_factory=list)

    def notices(self, level: str | None = None) -> list[str]:
        return [e.text for e in self.seen if isinstance(e, ev.Notice) and (level is None or e.level == level)]

    async def turn(self, text: str, timeout: float = 20.0) -> str:
        """Type ``text`` and wait for the turn to end; returns what the user heard of the reply."""
        before = len(self.seen)
        await self.bus.publish(ev.UserText(text=text))
        async with asyncio.timeout(timeout):
            while not any(isinstance(e, ev.TurnLatency) for e in self.seen[before:]):
                await asyncio.sleep(0.01)
        return self.session.report.replies[-1]

    async def stop(self, timeout: float = 10.0) -> Report:
        await self.bus.publish(ev.Stop(reason="test done"))
        return await asyncio.wait_for(self.runner, timeout)


async def start(tmp_path: Path | None, *, record_to: Path | None = None, plugins: list[Any] = (),  # type: ignore[assignment]
                host: dict[str, Any] | None = None, **pipeline: Any) -> Running:
    """A session of ``fake_pipeline(**pipeline)`` recording live to ``record_to`` (default:
    ``tmp_path/session.mp4``; ``tmp_path=None``: no recording), with ``plugins`` in a real
    plugin host (``host``: its options), started by the session as ``agent run`` does."""
    from agent.core.tasks import TaskOwner
    from plugins.host import PluginHost

    bus = EventBus()
    pipeline.setdefault("realtime", True)  # session time passes as the audio plays (virtual or real)
    parts = fake_pipeline(**pipeline)
    if plugins:
        parts.plugins = PluginHost(bus, TaskOwner("plugins"), **(host or {}))
        for plugin in plugins:
            parts.plugins.add(plugin)
    if tmp_path is not None or record_to is not None:
        path = record_to or tmp_path / "session.mp4"  # type: ignore[operator]
        parts.recording = Recording(path, 30, SIZE, sample_rate=parts.tts.sample_rate, keep_frames=False)
        parts.renderer = FakeRenderer(SIZE)
        parts.live_sinks = [RecordingSink(parts.recording)]
    seen: list[ev.Event] = []
    bus.observe(seen.append)
    session = Session(parts, bus=bus, say=lambda s: None)
    runner = asyncio.ensure_future(session.run())
    await asyncio.wait_for(session.ready.wait(), 10)
    return Running(parts, bus, session, runner, seen)


def playable(path: Path) -> tuple[int, float]:
    """(video frames, audio seconds) decoded from ``path`` start to end; raises if it does not play."""
    import av

    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
        rate = container.streams.audio[0].rate
    return frames, samples / rate
