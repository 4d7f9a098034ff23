"""A session: the event loop that connects perception, the persona's emotion, the dialogue,
speech and the face.

The graph is fixed and small (STYLE.md rule 9): perception stages publish events; the session
dispatches them through one handler table; the responder speaks one reply at a time; the face
loop turns the animator's state into frames for the recording, the plugins and the live video.
Every task is owned by one ``TaskOwner`` and shutdown has a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent import events as ev
from agent.bus import EventBus
from agent.channel import ChannelClosed, Overflow
from agent.clock import SessionClock
from agent.face_loop import FaceLoop, LiveVideo
from agent.recorder import EventLog, Recording
from agent.responder import Responder, TurnTimes
from agent.tasks import TaskOwner
from agent.turn_state import Turn, TurnState
from perception.affect import AffectEstimate

log = logging.getLogger(__name__)

SHUTDOWN_DEADLINE = 1.5  # seconds; with device closing this keeps Ctrl-C under 2 s


@dataclass
class Parts:
    """Everything a session runs with: built by ``agent.assemble`` (real) or by tests."""

    persona: Any
    dialogue: Any
    tts: Any
    output: Any  # agent.audio_out.AudioOutput
    animator: Any
    text_affect: Any
    fusion: Any
    hearing: Any | None = None  # perception.hearing.Hearing
    seeing: Any | None = None  # perception.seeing.Seeing
    plugins: Any | None = None  # plugins.host.PluginHost
    renderer: Any | None = None
    live_sinks: list[Any] = field(default_factory=list)
    recording: Recording | None = None
    typed_input: bool = False
    greet: bool = False  # say the persona's greeting when the session starts (live sessions)
    # input stages whose end (file consumed, stdin closed) ends the session once the agent is done
    ends_with: tuple[str, ...] = ("hearing", "keyboard")
    fps: float = 30.0
    notices: list[str] = field(default_factory=list)


@dataclass
class Report:
    turns: list[dict[str, float]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    frames: int = 0
    late_frames: int = 0
    output: Path | None = None


class Session:
    def __init__(self, parts: Parts, *, bus: EventBus | None = None,
                 events_path: Path | None = None, say: Callable[[str], None] | None = None):
        self.parts = parts
        self.bus = bus or EventBus()
        self.clock = SessionClock()
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.turn = Turn(self._turn_changed)
        self.owner = TaskOwner("session", on_error=self._task_failed)
        self.report = Report()
        self._events_path = events_path
        self._event_log: EventLog | None = None
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()  # set once the session listens: publish to it after this
        self._reply: asyncio.Task[str] | None = None
        self._heard = TurnTimes()  # stamps of the user's turn in progress
        self._input_done = False
        self._inputs: set[str] = set()  # input stages still running that end the session
        self.responder = Responder(
            bus=self.bus, clock=self.clock, dialogue=parts.dialogue, tts=parts.tts,
            voice=parts.persona.voice, output=parts.output, animator=parts.animator, turn=self.turn,
            on_chunk=self._on_chunk, on_cut=self._on_cut)
        self.live = LiveVideo(parts.renderer, parts.live_sinks) if parts.live_sinks else None
        self.face_loop = FaceLoop(self.clock, parts.animator, parts.fps, parts.recording, self.live,
                                  on_face=parts.plugins.face if parts.plugins else None)
        # One handler per event type: the only dispatch in the session.
        self._handlers: dict[type[ev.Event], Callable[[Any], Awaitable[None]]] = {
            ev.EndOfTurn: self._on_end_of_turn,
            ev.UserSpeechEnded: self._on_speech_ended,
            ev.Transcript: self._on_transcript,
            ev.UserText: self._on_user_text,
            ev.Interrupt: self._on_interrupt,
            ev.Pause: self._on_pause,
            ev.Resume: self._on_resume,
            ev.Stop: self._on_stop,
            ev.AffectEstimated: self._on_affect,
            ev.UserPresence: self._on_presence,
            ev.UserSpeechStarted: self._on_user_speech,
            ev.PluginCommand: self._on_plugin_command,
        }
        # Commands plugins and clients send back ("stop_talking" is an Interrupt already).
        self._commands: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "say": self._cmd_say, "user_text": self._cmd_user_text,
            "touched": self._cmd_touched, "set_emotion": self._cmd_set_emotion,
        }

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> Report:
        loop = asyncio.get_running_loop()
        self.clock = SessionClock()
        self.responder.clock = self.face_loop.clock = self.clock
        if self._events_path is not None:
            self._event_log = EventLog(self._events_path, self.clock.t0)
            self.bus.observe(self._event_log)
        self.bus.observe(self._collect_latency)
        inbox = self.bus.subscribe("session", *self._handlers, maxsize=256, overflow=Overflow.WAIT)
        for notice in self.parts.notices:
            await self.bus.publish(ev.Notice(text=notice))
        with _sigint(loop, lambda: self.bus.publish_nowait(ev.Stop(reason="ctrl-c"))):
            self.owner.spawn(self.face_loop.run(), "face-loop")
            if self.live is not None:
                self.owner.spawn(self.live.run(self.clock), "live-video")
            if self.parts.plugins is not None:
                await self.parts.plugins.start()
            for name, stage in (("hearing", self.parts.hearing), ("seeing", self.parts.seeing)):
                if stage is not None:
                    self.owner.spawn(self._run_input(name, stage.run()), name)
            if self.parts.typed_input:
                self.owner.spawn(self._run_input("keyboard", self._read_keyboard()), "keyboard")
            self.owner.spawn(self._dispatch(inbox), "dispatch")
            self.ready.set()
            greeting = getattr(self.parts.persona, "greeting", "")
            if greeting and self.parts.greet:
                if self.parts.typed_input:
                    self.say(f"{self.parts.persona.display_name}: {greeting}")
                await self._cmd_say({"text": greeting})
            await self._stop.wait()
        return await self._shutdown()

    async def _run_input(self, name: str, coro: Awaitable[None]) -> None:
        """When every input stage that ends the session has ended (files consumed, stdin
        closed), the session ends once the agent has finished what it is saying."""
        if name in self.parts.ends_with:
            self._inputs.add(name)
        await coro
        log.debug("input %s ended", name)
        if name in self._inputs:
            self._inputs.discard(name)
            if not self._inputs:
                self._input_done = True
                await self._finish_if_done()

    def _reply_ended(self) -> None:
        if self._reply is asyncio.current_task():
            self._reply = None

    async def _finish_if_done(self) -> None:
        replying = self._reply is not None and not self._reply.done() \
            and self._reply is not asyncio.current_task()
        if self._input_done and not replying:
            await self.bus.publish(ev.Stop(reason="input ended"))

    async def _shutdown(self) -> Report:
        self.turn.to(TurnState.STOPPED)
        if self._reply is not None and not self._reply.done():
            self.responder.interrupt()
        log.debug("shutdown: stopping tasks")
        stuck = await self.owner.aclose(SHUTDOWN_DEADLINE)
        log.debug("shutdown: tasks stopped")
        if stuck:
            log.warning("stopped with stuck tasks: %s", ", ".join(stuck))
        if self.parts.plugins is not None:
            await self.parts.plugins.stop(0.3)
        for stage in (self.parts.hearing, self.parts.seeing):
            if stage is not None and hasattr(stage, "aclose"):
                await stage.aclose()
        await self.parts.output.aclose()
        if self.live is not None:
            self.live.close()
        self.report.frames = self.face_loop.frames
        self.report.late_frames = self.face_loop.late_frames
        log.debug("shutdown: devices closed")
        self.bus.close()
        if self._event_log is not None:
            self._event_log.close()
        return self.report

    def _task_failed(self, name: str, exc: BaseException) -> None:
        self.say(f"agent: {name} failed: {exc}")
        self.bus.publish_nowait(ev.Stop(reason=f"{name} failed"))

    def _turn_changed(self, old: TurnState, new: TurnState) -> None:
        self.bus.publish_nowait(ev.TurnStateChanged(old=old.value, new=new.value))
        if self.parts.hearing is not None:
            # paused, the agent still holds the turn until the user's words decide
            self.parts.hearing.agent_speaking = new in (TurnState.SPEAKING, TurnState.PAUSED)

    # ------------------------------------------------------------------ dispatch
    async def _dispatch(self, inbox: Any) -> None:
        try:
            async for event in inbox.channel:
                await self._handlers[type(event)](event)
        except ChannelClosed:
            pass

    async def _on_speech_ended(self, e: ev.UserSpeechEnded) -> None:
        self._heard.vad_stop = self.clock.to_session(e.t)

    async def _on_transcript(self, e: ev.Transcript) -> None:
        self._heard.transcript = self.clock.to_session(e.t)

    async def _on_end_of_turn(self, e: ev.EndOfTurn) -> None:
        times, self._heard = self._heard, TurnTimes()
        times.decided = self.clock.to_session(e.t)
        origin = getattr(getattr(self.parts.hearing, "source", None), "origin", None)
        if origin is not None:  # the input clock mapped onto the session clock
            times.speech_end = self.clock.to_session(origin + e.audio_end_t)
        await self._start_reply(e.text, times)

    async def _on_user_text(self, e: ev.UserText) -> None:
        now = self.clock.to_session(e.t)
        await self._start_reply(e.text, TurnTimes(speech_end=now, decided=now, transcript=now))

    async def _start_reply(self, text: str, times: TurnTimes) -> None:
        text = text.strip()
        if not text:
            return
        if self._reply is not None and not self._reply.done():  # the user took the turn
            self.responder.interrupt()
            await asyncio.gather(self._reply, return_exceptions=True)
        self.bus.turn += 1
        est = self.parts.text_affect.estimate(text, self.clock.t0 + self.clock())
        await self.bus.publish(_affect_event(est))
        affect = self.parts.fusion.current(self.clock.t0 + self.clock())
        await self.bus.publish(ev.UserAffect(vad=tuple(affect.vad), confidence=affect.confidence,
                                             label=affect.label, cues=affect.cues))
        self._reply = self.owner.spawn(self._reply_and_report(text, affect, times), "reply")

    async def _reply_and_report(self, text: str, affect: Any, times: TurnTimes) -> str:
        heard = await self.responder.respond(text, affect, times)
        spans = times.spans()
        self.report.turns.append(spans)
        self.report.replies.append(heard)
        if self.parts.typed_input and heard:
            self.say(f"{self.parts.persona.display_name}: {heard}")
        self.bus.publish_nowait(ev.TurnLatency(turn=self.bus.turn, **{k: round(v, 4) for k, v in spans.items()}))
        self._reply_ended()
        await self._finish_if_done()
        return heard

    async def _on_interrupt(self, e: ev.Interrupt) -> None:
        if self.responder.interrupt():
            log.debug("interrupted: %s", e.reason)

    async def _on_pause(self, e: ev.Pause) -> None:
        if self.responder.pause():
            log.debug("paused: %s", e.reason)

    async def _on_resume(self, e: ev.Resume) -> None:
        if self.responder.resume():
            log.debug("resumed: %s", e.reason)

    async def _on_stop(self, e: ev.Stop) -> None:
        log.debug("stop: %s", e.reason)
        self._stop.set()

    async def _on_affect(self, e: ev.AffectEstimated) -> None:
        if e.source != "text":  # text estimates are fused where they are made
            self.parts.fusion.update(AffectEstimate(e.source, tuple(e.vad), e.confidence, e.t,
                                                    e.label, e.cues))
        if e.source == "face":
            self.parts.animator.set_user(None, affect_vad=tuple(e.vad), t=self.clock())

    async def _on_presence(self, e: ev.UserPresence) -> None:
        self.parts.animator.set_user(e.position if e.present else None, t=self.clock())

    async def _on_user_speech(self, e: ev.UserSpeechStarted) -> None:
        if self.turn.state is TurnState.LISTENING:
            self.parts.animator.set_listening(True, self.clock())

    async def _on_plugin_command(self, e: ev.PluginCommand) -> None:
        handler = self._commands.get(e.command)
        if handler is not None:
            await handler(e.args)

    async def _cmd_user_text(self, args: dict[str, Any]) -> None:
        await self.bus.publish(ev.UserText(text=str(args.get("text", ""))))

    async def _cmd_touched(self, args: dict[str, Any]) -> None:
        strength = float(args.get("strength", 0.5))
        how = "firmly" if strength > 0.7 else "gently" if strength < 0.3 else ""
        await self.bus.publish(ev.UserText(text=f"(The user {how} touches your {args.get('where', 'head')}.)".replace("  ", " ")))

    async def _cmd_say(self, args: dict[str, Any]) -> None:
        """Speak the given text verbatim, with the emotion the agent shows now."""
        from agent.llm.sentences import split_sentences
        from persona.emotion import Emotion

        text = str(args.get("text", "")).strip()
        if not text or (self._reply is not None and not self._reply.done()):
            return
        emotion = self.responder.emotion or Emotion.neutral()

        async def one() -> AsyncIterator[str]:
            yield text

        async def speak() -> str:
            heard = await self.responder.speak(split_sentences(one()), emotion)
            self._reply_ended()
            await self._finish_if_done()
            return heard

        self._reply = self.owner.spawn(speak(), "say")

    async def _cmd_set_emotion(self, args: dict[str, Any]) -> None:
        from persona.emotion import parse_emotion

        emotion = parse_emotion(str(args.get("emotion", "neutral")))
        engine = getattr(self.parts.dialogue, "engine", None)
        if engine is not None and hasattr(engine, "state"):
            engine.state = emotion
        await self.responder.show_emotion(emotion)

    # ------------------------------------------------------------------ speech taps
    def _on_chunk(self, chunk: Any, start: float) -> None:
        if self.parts.recording is not None:
            self.parts.recording.add_speech(chunk, start)
        if self.parts.hearing is not None and hasattr(self.parts.hearing, "echo"):
            self.parts.hearing.echo.push(chunk.audio, chunk.sample_rate, self.clock.t0 + start)
        if self.parts.plugins is not None:
            self.parts.plugins.speech(chunk, start)

    def _on_cut(self, t: float) -> None:
        if self.parts.recording is not None:
            self.parts.recording.cut(t)
        if self.parts.plugins is not None:
            self.parts.plugins.flush()  # speech not yet delivered to a robot is never played

    def _collect_latency(self, event: ev.Event) -> None:
        if isinstance(event, ev.StageLatency):
            log.debug("latency %s %.3fs", event.stage, event.seconds)

    async def _read_keyboard(self) -> None:
        """Typed input, one line per user turn, until end of input.

        A daemon thread reads stdin: a blocked ``readline`` must never hold shutdown (an
        executor thread would keep ``asyncio.run`` waiting for the user's next line)."""
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue(maxsize=16)

        def reader() -> None:
            for line in sys.stdin:
                log.debug("keyboard line (%d chars)", len(line))
                asyncio.run_coroutine_threadsafe(lines.put(line), loop).result()
            log.debug("keyboard: end of input")
            asyncio.run_coroutine_threadsafe(lines.put(None), loop)

        threading.Thread(target=reader, name="keyboard", daemon=True).start()
        while (line := await lines.get()) is not None:
            if line.strip():
                await self.bus.publish(ev.UserText(text=line.strip()))


def _affect_event(est: AffectEstimate) -> ev.AffectEstimated:
    return ev.AffectEstimated(source=est.source, vad=tuple(est.vad), confidence=est.confidence,
                              label=est.label, cues=est.cues)


class _sigint:
    """Ctrl-C publishes a Stop instead of raising inside whatever task is running."""

    def __init__(self, loop: asyncio.AbstractEventLoop, handler: Callable[[], None]) -> None:
        self.loop, self.handler = loop, handler

    def __enter__(self) -> None:
        try:
            self.loop.add_signal_handler(signal.SIGINT, self.handler)
            self.loop.add_signal_handler(signal.SIGTERM, self.handler)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            pass

    def __exit__(self, *exc: object) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass
