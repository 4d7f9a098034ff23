"""The plugin API: one small ABC, a capabilities dataclass and the context a plugin talks back through.

A plugin declares up front what it wants (event types, a face-frame rate, speech audio) and what
it sends back (commands); the host (``plugins.host``) delivers exactly that, each plugin in its
own tasks behind bounded queues, so a faulty plugin can only hurt itself.

Versioning: ``API_VERSION`` is "MAJOR.MINOR". A plugin states the version it was written for in
``api_version``; the host refuses a plugin whose MAJOR differs and accepts any MINOR (minor
versions only add). 2.0 removed the robot microphone/camera offer of 1.0 (``provides_*_source``,
``ctx.add_*_source``): the session never listened or watched through them. A robot's own
devices reach the session as the pipeline's sources (``PipelineOptions.audio_source`` /
``video_source``), as ``agent serve`` brings a browser's.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from agent.core.events import Event, Interrupt, PluginCommand

if TYPE_CHECKING:
    from agent.core.bus import EventBus
    from agent.core.face_state import FaceState
    from agent.core.speech import SpeechChunk

API_VERSION = "2.0"
ALL_EVENTS = "*"

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Capabilities:
    """What a plugin wants from the agent and what it gives back.

    ``events``: event type names (``"Transcript"``, ``"AgentEmotion"``...), or ``{"*"}`` for all.
    ``face_rate``: FaceState frames per second it wants (latest-wins), None for none.
    ``speech_audio``: it wants every ``SpeechChunk`` (audio + phoneme/word timings).
    ``sends_commands`` is checked: the context refuses a command that was not declared, so a
    user can read a plugin's reach from its capabilities.
    """

    events: frozenset[str] = frozenset()
    face_rate: float | None = None
    speech_audio: bool = False
    sends_commands: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", frozenset(self.events))
        if self.face_rate is not None and not 0 < self.face_rate <= 240:
            raise ValueError(f"face_rate must be in (0, 240] Hz, got {self.face_rate}")


class PluginSettings(BaseModel):
    """Base for a plugin's ``Settings``: frozen, and unknown keys are errors (typos surface)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Plugin(abc.ABC):
    """Subclass, set ``name`` and ``capabilities``, override the callbacks you declared.

    Every callback is awaited in the plugin's own task with a timeout; callbacks of one plugin
    never run concurrently. A coroutine that calls blocking code (``time.sleep``, serial I/O,
    a big numpy job) freezes the whole event loop and cannot be preempted: wrap such calls in
    ``await self.run_blocking(fn, *args)``, or derive from ``BlockingPlugin``.
    """

    name: ClassVar[str] = ""
    api_version: ClassVar[str] = API_VERSION
    capabilities: Capabilities = Capabilities()

    class Settings(PluginSettings):
        pass

    def __init__(self, settings: BaseModel | None = None) -> None:
        self.settings = settings if settings is not None else self.Settings()
        self.ctx: PluginContext | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    async def start(self, ctx: PluginContext) -> None:
        """Open devices and servers here; keep ``ctx`` to send commands later."""
        self.ctx = ctx

    async def stop(self) -> None:
        """Release what ``start`` opened; called on shutdown and after a fault."""

    async def on_event(self, event: Event) -> None:
        """One of the events named in ``capabilities.events``."""

    async def on_face(self, state: FaceState) -> None:
        """The newest face frame, at most ``capabilities.face_rate`` times a second."""

    async def on_speech(self, chunk: SpeechChunk, start_t: float) -> None:
        """A chunk of the agent's speech; ``start_t`` is when its first sample plays (loop clock)."""

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking code in this plugin's own worker thread (one thread, calls in order).

        A private thread, not the loop's shared pool: a plugin stuck in a driver call can then
        only hold its own thread.
        """
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=f"plugin-{self.name or type(self).__name__}")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def release_thread(self) -> None:
        """Let go of the worker thread without waiting for it (the host calls this on stop)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


class BlockingPlugin(Plugin):
    """For plugins written as plain synchronous code (drivers, SDKs without asyncio).

    Override ``open``, ``close``, ``handle_event``, ``handle_face``, ``handle_speech``; each runs
    in the plugin's worker thread, so a slow driver delays only this plugin, and the host's
    timeouts still apply (the thread is abandoned, not killed, when it overruns).
    """

    def open(self) -> None: ...

    def close(self) -> None: ...

    def handle_event(self, event: Event) -> None: ...

    def handle_face(self, state: FaceState) -> None: ...

    def handle_speech(self, chunk: SpeechChunk, start_t: float) -> None: ...

    async def start(self, ctx: PluginContext) -> None:
        await super().start(ctx)
        await self.run_blocking(self.open)

    async def stop(self) -> None:
        await self.run_blocking(self.close)

    async def on_event(self, event: Event) -> None:
        await self.run_blocking(self.handle_event, event)

    async def on_face(self, state: FaceState) -> None:
        await self.run_blocking(self.handle_face, state)

    async def on_speech(self, chunk: SpeechChunk, start_t: float) -> None:
        await self.run_blocking(self.handle_speech, chunk, start_t)


@dataclass(eq=False)
class PluginContext:
    """What a running plugin may do to the session: send commands.

    Commands are published on the bus as ``PluginCommand``; ``"stop_talking"`` also publishes an
    ``Interrupt`` at once (barge-in never waits for a round trip). A token bucket caps the rate
    (``max_commands_per_s``) so a chatty client cannot flood the conversation.
    """

    name: str
    bus: EventBus
    capabilities: Capabilities
    max_commands_per_s: float = 20.0
    clock: Callable[[], float] = time.monotonic
    dropped_commands: int = 0
    _tokens: float = field(default=-1.0, repr=False)
    _last: float = field(default=0.0, repr=False)

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"plugins.{self.name}")

    async def send(self, command: str, **args: Any) -> bool:
        """Publish a command; returns False when it was dropped by the rate limit."""
        if not self.capabilities.sends_commands:
            raise PermissionError(f"plugin {self.name} sends commands but did not declare "
                                  "Capabilities(sends_commands=True)")
        if not self._take_token():
            self.dropped_commands += 1
            if self.dropped_commands == 1:
                self.log.warning("plugin %s sends more than %.0f commands/s; extra ones are dropped",
                                 self.name, self.max_commands_per_s)
            return False
        if command == "stop_talking":
            await self.bus.publish(Interrupt(reason=f"plugin:{self.name}"))
        await self.bus.publish(PluginCommand(plugin=self.name, command=command, args=dict(args)))
        return True

    def _take_token(self) -> bool:
        now = self.clock()
        burst = max(1.0, self.max_commands_per_s)
        if self._tokens < 0:
            self._tokens = burst
        else:
            self._tokens = min(burst, self._tokens + (now - self._last) * self.max_commands_per_s)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
