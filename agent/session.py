"""A session: the event loop that connects perception, the persona's emotion, the dialogue,
speech and the face.

The graph is fixed and small (STYLE.md rule 9): perception stages publish events; the session
dispatches them through one handler table; the responder speaks one reply at a time; the face
loop turns the animator's state into frames for the recording, the plugins and the live video.
Every task is owned by one ``TaskOwner``, heavy work runs off the loop (a ``LoopMonitor``
measures how late the loop wakes and names what blocks it), and shutdown has a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.core import events as ev
from agent.core.affect import AffectEstimate, vad3
from agent.core.bus import EventBus
from agent.core.channel import ChannelClosed, Overflow
from agent.core.clock import SessionClock
from agent.core.loop_monitor import LoopMonitor
from agent.core.stages import Message
from agent.core.tasks import TaskOwner
from agent.face_loop import LIVE_BATCH, FaceLoop, LiveVideo
from agent.pipeline import Pipeline
from agent.recorder import EventLog
from agent.responder import Responder, TurnTimes
from agent.speculation import Speculation
from agent.turn_state import Turn, TurnState

log = logging.getLogger(__name__)

SHUTDOWN_DEADLINE = 1.5  # seconds; with device closing this keeps Ctrl-C under 2 s


@dataclass
class Report:
    turns: list[dict[str, float]] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    frames: int = 0
    late_frames: int = 0
    loop_lag_ms: list[float] = field(default_factory=list)
    stalls: list[tuple[float, str]] = field(default_factory=list)
    speculative: tuple[int, int, int] = (0, 0, 0)  # replies prepared early: started, spoken, thrown away
    output: Path | None = None


class Session:
    """``typed``: the user's typed turns from these lines instead of stdin (``agent chat -m``)."""

    def __init__(self, pipeline: Pipeline, *, bus: EventBus | None = None,
                 events_path: Path | None = None, say: Callable[[str], None] | None = None,
                 on_text: Callable[[str], None] | None = None, typed: Iterable[str] | None = None):
        self.pipeline = pipeline
        self.bus = bus or EventBus()
        self.clock = SessionClock()
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.turn = Turn(self._turn_changed)
        self.owner = TaskOwner("session", on_error=self._task_failed)
        self.report = Report()
        self.monitor = LoopMonitor(on_stall=self._stalled)
        self._typed = typed
        self._events_path = events_path
        self._event_log: EventLog | None = None
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()  # set once the session listens: publish to it after this
        self._reply: asyncio.Task[str] | None = None
        self._live_task: asyncio.Task[None] | None = None
        self._heard = TurnTimes()  # stamps of the user's turn in progress
        self._input_done = False
        self._inputs: set[str] = set()  # input stages still running that end the session
        p = pipeline
        self.responder = Responder(
            bus=self.bus, clock=self.clock, dialogue=p.dialogue, tts=p.tts, voice=p.persona.voice,
            output=p.output, animator=p.animator, turn=self.turn, on_chunk=self._on_chunk,
            on_cut=self._on_cut, on_text=on_text)
        self.live = LiveVideo(p.renderer, p.live_sinks, batch=p.live_batch or LIVE_BATCH) \
            if p.live_sinks and p.renderer else None
        self.face_loop = None
        if p.animator is not None:
            self.face_loop = FaceLoop(self.clock, p.animator, p.fps, p.recording, self.live,
                                      on_face=p.plugins.face if p.plugins else None)
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
            ev.UserPause: self._on_user_pause,
            ev.UserExpression: self._on_user_expression,
            ev.PluginCommand: self._on_plugin_command,
            ev.InputEnded: self._on_input_ended,
            ev.TurnEndLikely: self._on_turn_end_likely,
        }
        self.speculation = Speculation(self.owner, p.dialogue, self._speculative_prompt) \
            if p.dialogue is not None and p.understanding is not None else None
        # Commands plugins and clients send back ("stop_talking" is an Interrupt already).
        self._commands: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "say": self._cmd_say, "user_text": self._cmd_user_text,
            "touched": self._cmd_touched, "set_emotion": self._cmd_set_emotion,
        }

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> Report:
        loop = asyncio.get_running_loop()
        p = self.pipeline
        self.clock = SessionClock()
        self.responder.clock = self.clock
        if self.face_loop is not None:
            self.face_loop.clock = self.clock
        if self._events_path is not None:
            self._event_log = EventLog(self._events_path, self.clock.t0)
            self.bus.observe(self._event_log)
        self.bus.observe(self._collect_latency)
        inbox = self.bus.subscribe("session", *self._handlers, maxsize=256, overflow=Overflow.WAIT)
        await self.bus.publish(ev.SessionStarted(persona=p.persona.name, language=p.persona.language,
                                                 stages=p.describe()))
        for notice in p.notices:
            await self.bus.publish(ev.Notice(text=notice))
        with _sigint(loop, lambda: self.bus.publish_nowait(ev.Stop(reason="ctrl-c"))):
            self.owner.spawn(self.monitor.run(), "loop-monitor")
            if self.face_loop is not None:
                self.owner.spawn(self.face_loop.run(), "face-loop")
            if self.live is not None:
                self._live_task = self.owner.spawn(self.live.run(self.clock), "live-video")
            if p.plugins is not None:
                await p.plugins.start()
            for name, stage in p.inputs.items():
                self.owner.spawn(self._run_input(name, stage.run()), name)
            if p.typed_input:
                self.owner.spawn(self._run_input("keyboard", self._read_typed()), "keyboard")
            self.owner.spawn(self._dispatch(inbox), "dispatch")
            self.ready.set()
            greeting = getattr(p.persona, "greeting", "")
            if p.memory is not None:  # "Welcome back, Sam — ...", from what is remembered
                greeting = p.memory.greeting(greeting)
            if greeting and p.greet:
                if p.typed_input and p.tts is not None:
                    self.say(f"{p.persona.display_name}: {greeting}")
                await self._cmd_say({"text": greeting})
            await self._stop.wait()
        return await self._shutdown()

    async def _run_input(self, name: str, coro: Awaitable[None]) -> None:
        if name in self.pipeline.ends_with:
            self._inputs.add(name)
        await coro
        await self.bus.publish(ev.InputEnded(source=name))

    async def _on_input_ended(self, e: ev.InputEnded) -> None:
        """When every input stage that ends the session has ended (files consumed, stdin
        closed), the session ends once the agent has answered and finished what it is saying."""
        log.debug("input %s ended", e.source)
        if e.source in self._inputs:
            self._inputs.discard(e.source)
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
        if self.live is not None and self._live_task is not None:
            # the frame being written finishes before the sinks close under it
            self.live.close()
            await asyncio.wait({self._live_task}, timeout=SHUTDOWN_DEADLINE / 2)
        log.debug("shutdown: stopping tasks")
        stuck = await self.owner.aclose(SHUTDOWN_DEADLINE)
        if stuck:
            log.warning("stopped with stuck tasks: %s", ", ".join(stuck))
        await self.pipeline.close_io()
        if self.pipeline.memory is not None:  # a session that ended by itself waits for its last notes
            await self.pipeline.memory.finish(graceful=self._input_done)
        log.debug("shutdown: devices closed")
        if self.face_loop is not None:
            self.report.frames = self.face_loop.frames
            self.report.late_frames = self.face_loop.late_frames
        self.report.loop_lag_ms = list(self.monitor.lags_ms)
        self.report.stalls = list(self.monitor.stalls)
        if self.speculation is not None:
            s = self.speculation
            self.report.speculative = (s.started, s.used, s.thrown_away)
        self.bus.close()
        if self._event_log is not None:
            self._event_log.close()
        return self.report

    def _reply_failed(self, exc: Exception) -> str:
        """Said once, in one line; the agent listens again and the next turn starts afresh."""
        from agent.core.errors import UserError

        if not isinstance(exc, UserError):
            log.error("the reply failed", exc_info=exc)
        what = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        self.bus.publish_nowait(ev.Notice(text=f"the reply failed: {what}; the agent listens again",
                                          level="error"))
        return ""

    def _task_failed(self, name: str, exc: BaseException) -> None:
        self.say(f"agent: {name} failed: {exc}")
        self.bus.publish_nowait(ev.Stop(reason=f"{name} failed"))

    def _stalled(self, seconds: float, where: str) -> None:
        self.bus.publish_nowait(ev.Notice(text=f"the event loop was blocked for {seconds * 1000:.0f} ms "
                                               f"in {where}", level="debug"))

    def _turn_changed(self, old: TurnState, new: TurnState) -> None:
        self.bus.publish_nowait(ev.TurnStateChanged(old=old.value, new=new.value))
        if self.pipeline.turns is not None:
            # paused, the agent still holds the turn until the user's words decide
            self.pipeline.turns.agent_speaking = new in (TurnState.SPEAKING, TurnState.PAUSED)

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
        hearing = self.pipeline.hearing
        if hearing is not None:  # the input clock mapped onto the session clock
            times.speech_end = self.clock.to_session(hearing.source.origin + e.audio_end_t)
        await self._start_reply(e.text, times)

    async def _on_user_text(self, e: ev.UserText) -> None:
        now = self.clock.to_session(e.t)
        await self._start_reply(e.text, TurnTimes(speech_end=now, decided=now, transcript=now))

    async def _start_reply(self, text: str, times: TurnTimes) -> None:
        text = text.strip()
        if not text or self.pipeline.dialogue is None:
            return
        if self._reply is not None and not self._reply.done():  # the user took the turn
            self.responder.interrupt()
            await asyncio.gather(self._reply, return_exceptions=True)
        self.bus.turn += 1
        self.responder.begin(times)
        self._reply = self.owner.spawn(self._reply_and_report(text, times), "reply")

    async def _reply_and_report(self, text: str, times: TurnTimes) -> str:
        p = self.pipeline
        assert p.understanding is not None and p.dialogue is not None
        now = self.clock.t0 + self.clock()
        reading = await p.understanding.read_async(text, p.dialogue.last_reply, now)
        times.emotion = self.clock()
        recalled = await p.memory.recall(text) if p.memory is not None else []
        await self.bus.publish(_affect_event(reading.text))
        user = reading.user
        await self.bus.publish(ev.UserAffect(vad=vad3(user.vad), confidence=user.confidence,
                                             label=user.label, cues=user.cues))
        try:
            heard = await self.responder.respond(text, user, reading.emotion, recalled, self.speculation)
        except Exception as exc:  # one failed reply (LLM server gone, TTS error) ends the turn only
            heard = self._reply_failed(exc)
        spans = times.spans()
        self.report.turns.append(spans)
        self.report.replies.append(heard)
        if p.memory is not None:  # queued: the memory's worker extracts the facts and writes them
            await p.memory.remember(text, heard, user)
        if p.typed_input and p.tts is not None and heard:
            self.say(f"{p.persona.display_name}: {heard}")
        self.bus.publish_nowait(ev.TurnLatency.of(self.bus.turn, spans))
        self._reply_ended()
        await self._finish_if_done()
        return heard

    async def _on_turn_end_likely(self, e: ev.TurnEndLikely) -> None:
        replying = self._reply is not None and not self._reply.done()
        if self.speculation is not None and not replying:
            self.speculation.start(e.text)

    async def _speculative_prompt(self, text: str) -> list[Message]:
        """The prompt a reply to ``text`` would get now, the words read without keeping anything."""
        p = self.pipeline
        assert p.understanding is not None and p.dialogue is not None
        reading = await p.understanding.read_async(text, p.dialogue.last_reply, self.clock.t0 + self.clock(),
                                                   keep=False)
        recalled = await p.memory.recall(text) if p.memory is not None else []
        return p.dialogue.messages(text, reading.emotion, reading.user, recalled)

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
        p = self.pipeline
        # the words' estimate is fused where it is made (agent.understanding), with the turn
        if e.source != "text" and p.understanding is not None:
            p.understanding.fuse(AffectEstimate(e.source, vad3(e.vad), e.confidence, e.t, e.label, e.cues))
        if e.source == "face" and p.animator is not None:
            p.animator.set_user_affect(self.clock(), affect_vad=vad3(e.vad))

    async def _on_presence(self, e: ev.UserPresence) -> None:
        target = (float(e.position[0]), float(e.position[1])) if e.present else None
        if self.pipeline.animator is not None:
            self.pipeline.animator.set_user_position(target, self.clock())
        await self.bus.publish(ev.AgentGaze(target=target))

    async def _on_user_speech(self, e: ev.UserSpeechStarted) -> None:
        if self.speculation is not None:
            self.speculation.cancel()  # the user goes on: the prepared reply would answer too little
        if self.turn.state is TurnState.LISTENING and self.pipeline.animator is not None:
            self.pipeline.animator.set_listening(True, self.clock())

    async def _on_user_pause(self, e: ev.UserPause) -> None:
        if self.turn.state is TurnState.LISTENING and self.pipeline.animator is not None:
            self.pipeline.animator.user_paused(self.clock())

    async def _on_user_expression(self, e: ev.UserExpression) -> None:
        if self.pipeline.animator is not None:
            self.pipeline.animator.set_user_affect(self.clock(), blendshapes=e.blendshapes)

    async def _on_plugin_command(self, e: ev.PluginCommand) -> None:
        handler = self._commands.get(e.command)
        if handler is not None:
            await handler(e.args)

    async def _cmd_user_text(self, args: dict[str, Any]) -> None:
        await self.bus.publish(ev.UserText(text=str(args.get("text", ""))))

    async def _cmd_touched(self, args: dict[str, Any]) -> None:
        strength = float(args.get("strength", 0.5))
        how = "firmly" if strength > 0.7 else "gently" if strength < 0.3 else ""
        text = f"(The user {how} touches your {args.get('where', 'head')}.)".replace("  ", " ")
        await self.bus.publish(ev.UserText(text=text))

    async def _cmd_say(self, args: dict[str, Any]) -> None:
        """Speak the given text verbatim, with the emotion the agent shows now; what the user
        heard of it enters the history as the agent's (the greeting opens the conversation)."""
        from agent.llm.sentences import split_sentences
        from persona.emotion import Emotion

        text = str(args.get("text", "")).strip()
        if not text or (self._reply is not None and not self._reply.done()):
            return
        emotion = self.responder.emotion or Emotion.neutral()

        async def one() -> AsyncIterator[str]:
            yield text

        async def speak() -> str:
            try:
                heard = await self.responder.speak(split_sentences(one()), emotion)
            except Exception as exc:
                heard = self._reply_failed(exc)
            if self.pipeline.dialogue is not None and heard:
                self.pipeline.dialogue.commit("", heard)
            self._reply_ended()
            await self._finish_if_done()
            return heard

        self.responder.begin()
        self._reply = self.owner.spawn(speak(), "say")

    async def _cmd_set_emotion(self, args: dict[str, Any]) -> None:
        from persona.emotion import parse_emotion

        emotion = parse_emotion(str(args.get("emotion", "neutral")))
        if self.pipeline.understanding is not None:
            self.pipeline.understanding.set_emotion(emotion, self.clock.t0 + self.clock())
        await self.responder.show_emotion(emotion)

    # ------------------------------------------------------------------ speech taps
    def _on_chunk(self, chunk: Any, start: float) -> None:
        p = self.pipeline
        if p.recording is not None:
            p.recording.add_speech(chunk, start)
        if p.hearing is not None:
            p.hearing.agent_said(chunk.audio, chunk.sample_rate, self.clock.t0 + start)
        if p.plugins is not None:
            p.plugins.speech(chunk, start)

    def _on_cut(self, t: float) -> None:
        p = self.pipeline
        if p.recording is not None:
            p.recording.cut(t)
        if p.plugins is not None:
            p.plugins.flush()  # speech not yet delivered to a robot is never played

    def _collect_latency(self, event: ev.Event) -> None:
        if isinstance(event, ev.StageLatency):
            log.debug("latency %s %.3fs", event.stage, event.seconds)

    async def _read_typed(self) -> None:
        """Typed input, one line per user turn, until end of input."""
        lines = self._typed if self._typed is not None else None
        if lines is not None:
            for line in lines:
                if line.strip():
                    await self.bus.publish(ev.UserText(text=line.strip()))
            return
        async for line in _stdin_lines():
            if line.strip():
                await self.bus.publish(ev.UserText(text=line.strip()))


async def _stdin_lines() -> AsyncIterator[str]:
    """Lines from stdin without a thread: through the loop where stdin is a pipe or a terminal
    (nothing to join at shutdown, nothing left blocked in ``readline``), in a worker where it is
    a regular file (which never blocks). The terminal is left in blocking mode, as found."""
    import os

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        fd = sys.stdin.fileno()
        pipe = os.fdopen(os.dup(fd), "rb", buffering=0)
    except (AttributeError, ValueError, OSError):
        return
    try:
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    except (ValueError, OSError, NotImplementedError):
        pipe.close()
        while line := await asyncio.to_thread(sys.stdin.readline):
            yield line
        return
    try:
        while line_b := await reader.readline():
            log.debug("keyboard line (%d chars)", len(line_b))
            yield line_b.decode("utf-8", "replace")
        log.debug("keyboard: end of input")
    finally:
        transport.close()
        try:
            os.set_blocking(fd, True)
        except OSError:
            pass


def _affect_event(est: AffectEstimate) -> ev.AffectEstimated:
    return ev.AffectEstimated(source=est.source, vad=vad3(est.vad), confidence=est.confidence,
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
