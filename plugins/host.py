"""The plugin host: runs plugins beside the conversation so that none of them can stall it.

Isolation, in one sentence: each plugin gets its own bounded queues (events: drop-new; face
frames: one slot, latest wins; speech: drop-new) filled without waiting, and its own tasks that
await its callbacks one at a time under a timeout; a callback that raises, overruns its timeout
or is caught blocking the loop marks the plugin failed, which is logged once with its name and
then handled by the policy (``disable``: stop it; ``restart``: a fresh instance, with backoff, a
few times).

The one thing asyncio cannot preempt is a coroutine that blocks the thread (``time.sleep``,
serial I/O). While it blocks, the session's loop watchdog names it (its task is
``plugins/plugin:NAME/...``); afterwards the host disables the plugin (the callback took longer
than its timeout without the timeout firing), but the loop has already lost that time: blocking
code belongs in ``Plugin.run_blocking`` / ``BlockingPlugin``, which run in the plugin's own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agent.core import events as agent_events
from agent.core.bus import EventBus, Subscription
from agent.core.channel import Channel, Overflow
from agent.core.errors import UserError
from agent.core.events import Event, Notice
from agent.core.face_state import FaceState
from agent.core.speech import SpeechChunk
from agent.core.tasks import TaskOwner
from plugins.api import ALL_EVENTS, Plugin, PluginContext
from plugins.registry import PluginError, build, merge_specs

log = logging.getLogger(__name__)


class Policy(enum.Enum):
    DISABLE = "disable"
    RESTART = "restart"


class State(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    FAILED = "failed"  # failure seen, recovery under way
    DISABLED = "disabled"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Timeouts:
    """Seconds each callback may take before the plugin counts as failed."""

    start: float = 5.0
    stop: float = 2.0
    event: float = 1.0
    face: float = 0.5
    speech: float = 1.0


@dataclass(eq=False)
class _Runner:
    name: str
    plugin: Plugin
    state: State = State.IDLE
    ctx: PluginContext | None = None
    sub: Subscription | None = None
    wanted: frozenset[type[Event]] | None = None  # None: every event
    faces: Channel[FaceState] | None = None
    speech: Channel[tuple[SpeechChunk, float]] | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    restarts: int = 0
    stopped: bool = False  # this instance's stop() has run
    error: str = ""
    delivered: dict[str, int] = field(default_factory=lambda: {"events": 0, "faces": 0, "speech": 0})


class PluginHost:
    def __init__(self, bus: EventBus, owner: TaskOwner, policy: str | Policy = "disable", *,
                 timeouts: Timeouts = Timeouts(), max_restarts: int = 3, restart_backoff: float = 0.5,
                 event_queue: int = 64, speech_queue: int = 16) -> None:
        self.bus = bus
        self.owner = owner
        try:
            self.policy = Policy(policy)
        except ValueError:
            raise PluginError(f"plugin policy {policy!r} is not one of: disable, restart") from None
        self.timeouts = timeouts
        self.max_restarts = max_restarts
        self.restart_backoff = restart_backoff
        self.event_queue = event_queue
        self.speech_queue = speech_queue
        self._runners: dict[str, _Runner] = {}
        self._aux: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ building
    @classmethod
    def from_specs(cls, specs: Iterable[str], persona_plugins: Iterable[str] = (), *,
                   bus: EventBus, owner: TaskOwner, policy: str | Policy = "disable",
                   **options: Any) -> PluginHost:
        """Plugins from ``--plugin NAME[:key=value,...]`` and a persona's ``plugins:`` list.

        Every error (unknown plugin, bad setting) is a one-line ``PluginError`` (a ``UserError``)
        raised before anything starts.
        """
        host = cls(bus, owner, policy, **options)
        for spec in merge_specs(tuple(specs), tuple(persona_plugins)):
            host.add(build(spec), name=spec.name)
        return host

    def add(self, plugin: Plugin, name: str | None = None) -> None:
        name = name or plugin.name or type(plugin).__name__.lower()
        if name in self._runners:
            raise PluginError(f"plugin {name!r} is added twice")
        self._runners[name] = _Runner(name, plugin)

    # ------------------------------------------------------------------ lifecycle
    async def start(self, *, strict: bool = False) -> None:
        """Start every plugin (concurrently, each under the start timeout).

        A plugin that refuses with a ``UserError`` (bad configuration) is disabled and its line
        logged and published as a ``Notice``; with ``strict`` the first such error is raised.
        """
        runners = [r for r in self._runners.values() if r.state is State.IDLE]
        await asyncio.gather(*(self._start(r) for r in runners))
        if strict:
            for r in runners:
                if r.state is State.DISABLED and r.error:
                    raise PluginError(r.error)

    async def _start(self, r: _Runner) -> None:
        caps = r.plugin.capabilities
        r.ctx = PluginContext(r.name, self.bus, caps, clock=asyncio.get_running_loop().time)
        r.lock = asyncio.Lock()
        try:
            async with asyncio.timeout(self.timeouts.start):
                await r.plugin.start(r.ctx)
        except UserError as exc:
            r.error = f"plugin {r.name}: {exc}"
            log.error("%s", r.error)
            self._notice(r.error)
            r.state = State.DISABLED
            await self._shutdown(r, self.timeouts.stop)  # release whatever it opened before refusing
            return
        except Exception as exc:
            r.state = State.RUNNING  # so that _fail applies the policy
            why = (f"did not finish within {self.timeouts.start:g}s" if isinstance(exc, TimeoutError)
                   else f"raised {_describe(exc)}")
            self._fail(r, f"start {why}")
            return
        r.state = State.RUNNING
        self._wire(r)

    def _wire(self, r: _Runner) -> None:
        caps = r.plugin.capabilities
        names = set(caps.events)
        if names:
            if ALL_EVENTS in names:
                r.wanted = None
                r.sub = self.bus.subscribe(f"plugin:{r.name}", maxsize=self.event_queue,
                                           overflow=Overflow.DROP_NEW)
            else:
                types = _resolve(r.name, names)
                r.wanted = frozenset(types)
                if types:
                    r.sub = self.bus.subscribe(f"plugin:{r.name}", *types, maxsize=self.event_queue,
                                               overflow=Overflow.DROP_NEW)
            if r.sub is not None:
                r.tasks.append(self.owner.spawn(self._events(r), f"plugin:{r.name}/events"))
        if caps.face_rate:
            r.faces = Channel(1, Overflow.LATEST, f"plugin:{r.name}/face")
            r.tasks.append(self.owner.spawn(self._faces(r, caps.face_rate), f"plugin:{r.name}/face"))
        if caps.speech_audio:
            r.speech = Channel(self.speech_queue, Overflow.DROP_NEW, f"plugin:{r.name}/speech")
            r.tasks.append(self.owner.spawn(self._speech(r), f"plugin:{r.name}/speech"))

    async def stop(self, deadline: float = 2.0) -> None:
        """Stop every plugin within ``deadline`` seconds in all (each ``stop()`` runs in parallel)."""
        for t in list(self._aux):
            t.cancel()
        runners = [r for r in self._runners.values() if r.state in (State.RUNNING, State.FAILED)]
        for r in runners:
            r.state = State.STOPPED
        budget = min(deadline, self.timeouts.stop)
        try:
            async with asyncio.timeout(deadline):
                await asyncio.gather(*(self._shutdown(r, budget) for r in runners))
        except TimeoutError:
            log.warning("plugins did not stop within %.1fs: %s", deadline,
                        ", ".join(r.name for r in runners if not r.stopped))
        for r in runners:
            await self._release(r)
        if self._aux:
            await asyncio.wait(list(self._aux), timeout=0.1)

    async def _shutdown(self, r: _Runner, budget: float) -> None:
        await self._unwire(r, budget)
        if r.stopped:
            return  # stop() runs once per instance, even when recovery and shutdown overlap
        r.stopped = True
        try:
            async with asyncio.timeout(budget):
                await r.plugin.stop()
        except TimeoutError:
            log.warning("plugin %s did not stop within %gs", r.name, budget)
        except Exception as exc:  # stopping must not raise into the session's shutdown
            log.warning("plugin %s: stop failed: %s", r.name, _describe(exc))
        await self._release(r)

    async def _unwire(self, r: _Runner, budget: float) -> None:
        if r.sub is not None:
            self.bus.unsubscribe(r.sub)
            r.sub = None
        for ch in (r.faces, r.speech):
            if ch is not None:
                ch.close()
        current = asyncio.current_task()
        tasks = [t for t in r.tasks if t is not current and not t.done()]
        r.tasks.clear()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=budget)

    async def _release(self, r: _Runner) -> None:
        r.plugin.release_thread()

    # ------------------------------------------------------------------ feeding
    def face(self, state: FaceState) -> None:
        """Offer the newest face frame; each plugin takes it at its own rate (latest wins)."""
        for r in self._runners.values():
            if r.state is State.RUNNING and r.faces is not None and not r.faces.closed:
                r.faces.put_nowait(state)

    def speech(self, chunk: SpeechChunk, start_t: float) -> None:
        """Offer a speech chunk that starts playing at ``start_t`` (loop clock); never waits."""
        for r in self._runners.values():
            if r.state is State.RUNNING and r.speech is not None and not r.speech.closed:
                r.speech.put_nowait((chunk, start_t))

    def flush(self) -> int:
        """Drop speech chunks not yet delivered (on barge-in, with ``bus.flush()``); returns how many."""
        return sum(r.speech.flush() for r in self._runners.values() if r.speech is not None)

    # ------------------------------------------------------------------ workers
    async def _events(self, r: _Runner) -> None:
        assert r.sub is not None
        async for event in r.sub.channel:
            if r.wanted is not None and type(event) not in r.wanted:
                continue  # a control event the plugin did not ask for
            if not await self._call(r, "on_event", r.plugin.on_event, (event,), self.timeouts.event):
                return
            r.delivered["events"] += 1

    async def _faces(self, r: _Runner, rate: float) -> None:
        assert r.faces is not None
        loop = asyncio.get_running_loop()
        period = 1.0 / rate
        due = loop.time()
        async for state in r.faces:
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            async with r.lock:
                while (newer := r.faces.get_nowait()) is not None:
                    state = newer  # a frame that arrived while we waited replaces this one
                due = loop.time() + period  # at most `rate` a second, even after an idle spell
                ok = await self._call(r, "on_face", r.plugin.on_face, (state,), self.timeouts.face,
                                      locked=True)
            if not ok:
                return
            r.delivered["faces"] += 1

    async def _speech(self, r: _Runner) -> None:
        assert r.speech is not None
        async for chunk, start_t in r.speech:
            if not await self._call(r, "on_speech", r.plugin.on_speech, (chunk, start_t),
                                    self.timeouts.speech):
                return
            r.delivered["speech"] += 1

    async def _call(self, r: _Runner, what: str, fn: Callable[..., Awaitable[None]],
                    args: tuple[Any, ...], timeout: float, *, locked: bool = False) -> bool:
        """Await one callback under ``timeout``; False (and the plugin marked failed) if it misbehaved."""
        if r.state is not State.RUNNING:
            return False
        loop = asyncio.get_running_loop()
        async with contextlib.AsyncExitStack() as stack:
            if not locked:
                await stack.enter_async_context(r.lock)
            start = loop.time()
            try:
                async with asyncio.timeout(timeout):
                    await fn(*args)
            except TimeoutError:
                self._fail(r, f"{what} did not finish within {timeout:g}s")
                return False
            except Exception as exc:
                self._fail(r, f"{what} raised {_describe(exc)}")
                return False
            took = loop.time() - start
            if took > timeout:
                self._fail(r, f"{what} blocked the event loop for {took:.2f}s; "
                              "move blocking code into run_blocking()")
                return False
        return r.state is State.RUNNING

    # ------------------------------------------------------------------ failure
    def _fail(self, r: _Runner, reason: str) -> None:
        if r.state is not State.RUNNING:
            return  # already failing, stopping or stopped: logged once
        r.state = State.FAILED
        restart = self.policy is Policy.RESTART and r.restarts < self.max_restarts
        action = f"restarting ({r.restarts + 1}/{self.max_restarts})" if restart else "disabled"
        r.error = f"plugin {r.name} failed: {reason}; {action}"
        log.error("%s", r.error)
        self._notice(r.error)
        task = self.owner.spawn(self._recover(r, restart), f"plugin:{r.name}/recover")
        self._aux.add(task)
        task.add_done_callback(self._aux.discard)

    async def _recover(self, r: _Runner, restart: bool) -> None:
        await self._shutdown(r, self.timeouts.stop)  # a servo plugin goes to neutral here
        if r.state is not State.FAILED:
            return  # the host was stopped meanwhile
        if not restart:
            r.state = State.DISABLED
            return
        await asyncio.sleep(self.restart_backoff * 2 ** r.restarts)
        r.restarts += 1
        r.plugin = type(r.plugin)(r.plugin.settings)
        r.state, r.stopped = State.IDLE, False
        await self._start(r)

    def _notice(self, text: str) -> None:
        self.bus.publish_nowait(Notice(text=text, level="error"))

    # ------------------------------------------------------------------ introspection
    def status(self) -> dict[str, str]:
        return {name: r.state.value for name, r in self._runners.items()}

    def stats(self, name: str) -> dict[str, int]:
        """Callbacks delivered and items dropped by the plugin's queues."""
        r = self._runners[name]
        out = dict(r.delivered)
        out["events_dropped"] = r.sub.channel.dropped if r.sub is not None else 0
        out["faces_replaced"] = r.faces.dropped if r.faces is not None else 0
        out["speech_dropped"] = r.speech.dropped if r.speech is not None else 0
        out["restarts"] = r.restarts
        return out

    def plugin(self, name: str) -> Plugin:
        return self._runners[name].plugin

    def error(self, name: str) -> str:
        return self._runners[name].error


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def event_types() -> dict[str, type[Event]]:
    """Every event type known to this process by name (agent.core.events and any subclass imported)."""
    found: dict[str, type[Event]] = {}
    for name in dir(agent_events):
        obj = getattr(agent_events, name)
        if isinstance(obj, type) and issubclass(obj, Event) and obj is not Event:
            found[name] = obj
    todo = [Event]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            # slotted dataclasses leave their pre-slots class behind; keep the one the module holds
            if getattr(sys.modules.get(sub.__module__), sub.__qualname__, None) is sub:
                found.setdefault(sub.__name__, sub)
    return found


def _resolve(plugin: str, names: set[str]) -> list[type[Event]]:
    known = event_types()
    unknown = sorted(n for n in names if n not in known)
    if unknown:
        log.warning("plugin %s subscribes to unknown event type(s) %s; ignored (known: %s)",
                    plugin, ", ".join(unknown), ", ".join(sorted(known)))
    return [known[n] for n in sorted(names) if n in known]
