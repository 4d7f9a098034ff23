"""Hearing: the stage that turns input audio into the user's speech events.

Per 32 ms frame (VAD and the echo gate run in a worker thread): silero-vad scores the frame,
the echo gate says whether it is only the agent's own voice coming back, and the segmenter
cuts utterances from what is left. An utterance that ends is transcribed (Whisper) and its
voice affect estimated (prosody), both off the event loop; the end-of-turn detector decides
when the user has finished. While the agent speaks, user speech that is not echo and not a
backchannel publishes ``Interrupt(reason="barge-in")`` directly — never by a round trip; speech
that cannot be told from an acknowledgement in time publishes ``Pause``, and its words then
decide: ``Resume`` (it was "uh-huh") or ``Interrupt``.

Frames are processed in order and the models are awaited in turn, so every decision is taken
on the input clock and is the same from a file, in a test, or live (where the microphone's
bounded buffer holds the frames that arrive meanwhile).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from agent import events as ev
from agent.bus import EventBus
from agent.turns import (BargeAction, BargeIn, BargeState, EndOfTurnDetector, Look, TurnConfig, TurnDecision,
                         calls_to_stop, held_look, is_backchannel)
from perception.affect import AffectEstimate
from perception.audio_source import FRAME, FRAME_S, SAMPLE_RATE, AudioFrame, AudioSource
from perception.backchannel import ACK_PROMPT, OnsetJudge
from perception.echo import EchoReference, EchoVerdict
from perception.hum import hum_like
from perception.vad import Segment, Segmenter, SpeechEnd, SpeechStart, VadConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HearingConfig:
    vad: VadConfig = field(default_factory=VadConfig)
    turn: TurnConfig = field(default_factory=TurnConfig)
    # below this share of energy left after echo cancelling a frame is echo only. The bar sits at
    # ``echo_residual_scale`` times what the canceller typically leaves of the echo in this room
    # (the upper quartile of the last 2 s of playback), within [echo_residual_min, echo_residual]:
    # a well-learnt room lets a user quieter than the echo through, a poorly learnt one does not
    echo_residual: float = 0.5
    echo_residual_min: float = 0.2
    echo_residual_scale: float = 4.0
    echo_learn_lag: int = 10  # frames (0.3 s) a playback frame waits before it counts
    # while the agent plays, what is left after cancelling must also stand this far above the
    # room's noise to be a voice: the echo's faint tail between words is not the user
    voice_over_floor_db: float = 10.0
    # the VAD wakes on the vowel: of the ``lead_frames`` frames just before an onset, the earliest
    # that stood this far above the noise (the "s" of "stop", the "h" of "hold") is its start
    lead_db: float = 10.0
    lead_frames: int = 3


@dataclass
class HeardSegment:
    """One utterance as heard: what ``agent perceive`` prints and tests inspect."""

    segment: Segment
    text: str = ""
    words: tuple[tuple[str, float, float], ...] = ()
    affect: AffectEstimate | None = None
    asr_s: float = 0.0
    during_agent: bool = False
    ignored: str = ""  # why it did not count as a turn ("backchannel", "burst", "")


@dataclass
class BargeInRecord:
    """One time the user's speech made the agent go quiet."""

    onset: float  # input clock
    decided_at: float  # input clock (end of the frame that decided): the agent goes quiet
    check_s: float  # wall time spent looking at the onset
    outcome: str = "interrupt"  # or "pause" (the words still to decide), "resumed" (an acknowledgement)
    settled_at: float | None = None  # when the words decided a pause


class Hearing:
    def __init__(self, bus: EventBus, source: AudioSource, asr: Any, vad: Any,
                 voice_affect: Any | None = None, echo: EchoReference | None = None,
                 config: HearingConfig | None = None,
                 on_segment: Callable[[HeardSegment], None] | None = None,
                 judge: OnsetJudge | None = None) -> None:
        self.bus = bus
        self.source = source
        self.asr = asr
        self.vad = vad
        self.voice_affect = voice_affect
        self.echo = echo or EchoReference()
        self.config = config or HearingConfig()
        self.on_segment = on_segment
        self.segmenter = Segmenter(self.config.vad)
        self.turns = EndOfTurnDetector(self.config.turn)
        self.judge = judge or (OnsetJudge(asr) if asr is not None else None)
        self.barge = BargeIn(self.config.turn, can_check=self.judge is not None)
        self.barge_ins: collections.deque[BargeInRecord] = collections.deque(maxlen=64)
        self.frames = 0
        self._agent_speaking = False
        self._during_agent = False
        self._barged = False
        self._now = 0.0
        self._check_s = 0.0
        self._held_at = 0.0  # input time the current onset was held as a backchannel
        self._residuals: collections.deque[float] = collections.deque(maxlen=3)  # median: one odd frame is not a voice
        self._playback_residuals: collections.deque[float] = collections.deque(maxlen=62)  # 2 s of playback
        self._pending_residuals: collections.deque[float] = collections.deque()  # the last 0.3 s of it
        self._before: collections.deque[bool] = collections.deque(maxlen=self.config.lead_frames)  # voiced-loud frames
        self._handlers: dict[type, Callable[[Any], Any]] = {SpeechStart: self._started, SpeechEnd: self._ended}

    # ------------------------------------------------------------------ set by the session
    @property
    def agent_speaking(self) -> bool:
        return self._agent_speaking

    @agent_speaking.setter
    def agent_speaking(self, value: bool) -> None:
        if not value:
            self.barge.reset()
        self._agent_speaking = value

    # ------------------------------------------------------------------ the stage
    async def run(self) -> None:
        self.vad.reset()
        while (frame := await self.source.recv()) is not None:
            await self._frame(frame)
        for e in self.segmenter.flush():
            await self._handlers[type(e)](e)
        decision = self.turns.tick(self._now + self.config.turn.unfinished_silence)
        if decision is not None:
            await self._end_of_turn(decision)

    async def aclose(self) -> None:
        await self.source.aclose()

    async def _frame(self, frame: AudioFrame) -> None:
        self.frames += 1
        self._now = frame.end
        prob, verdict = await asyncio.to_thread(self._analyse, frame, self.source.origin + frame.t)
        self._residuals.append(verdict.residual)
        # while the echo path is still unknown, playback can neither start an utterance nor
        # interrupt, but it does not cut short one the user had already begun
        unsure = verdict.playing and not verdict.certain
        # with the echo path learnt, a frame is echo only when too little is left of it after
        # cancelling (``_echo_bar`` learns the room's typical residual from these frames) or
        # what is left is not above the room's noise
        learnt = verdict.playing and verdict.certain and verdict.delay is not None
        echo_only = learnt and (float(np.median(self._residuals)) < self._echo_bar(verdict.residual)
                                or verdict.above_floor_db < self.config.voice_over_floor_db)
        heard = 0.0 if echo_only or (unsure and not self.segmenter.in_speech) else prob
        for e in self.segmenter.feed(frame.t, verdict.cleaned, heard):
            await self._handlers[type(e)](e)
        if self._agent_speaking:
            user = prob >= self.config.vad.threshold and not (echo_only or unsure)
            lead = 0.0
            if self.barge.state is BargeState.QUIET:
                self._check_s = 0.0  # the compute of this onset's looks only
                # from the earliest such frame (a stop's closure may sit between it and the vowel)
                loud = [i for i, is_loud in enumerate(self._before) if is_loud]
                lead = FRAME_S * (len(self._before) - loud[0]) if loud else 0.0
            action = self.barge.frame(frame.t, frame.end, user, lead)
            if action is BargeAction.CHECK:
                action = await self._check_onset()
            await self._act(action)
        self._before.append(not (echo_only or unsure) and verdict.above_floor_db >= self.config.lead_db)
        decision = self.turns.tick(frame.end)
        if decision is not None:
            await self._end_of_turn(decision)

    def _echo_bar(self, residual: float) -> float:
        """The residual share below which a frame of playback is echo only (see HearingConfig).

        It is learnt from the echo alone: a frame counts 0.3 s later, once no user onset began
        around it, and none counts while one goes on — else a user talking over the agent
        would raise the bar against their own voice within a few frames."""
        c = self.config
        if self.barge.state is BargeState.QUIET:
            self._pending_residuals.append(residual)
            if len(self._pending_residuals) > c.echo_learn_lag:
                self._playback_residuals.append(self._pending_residuals.popleft())
        else:
            self._pending_residuals.clear()
        if not self._playback_residuals:
            return c.echo_residual
        typical = float(np.percentile(self._playback_residuals, 75))
        return float(np.clip(c.echo_residual_scale * typical, c.echo_residual_min, c.echo_residual))

    def _analyse(self, frame: AudioFrame, mono_t: float) -> tuple[float, EchoVerdict]:
        """Echo first: the VAD hears the microphone with the agent's voice taken out."""
        verdict = self.echo.assess(frame.samples, mono_t)
        return self.vad.prob(verdict.cleaned), verdict

    # ------------------------------------------------------------------ segments
    async def _started(self, e: SpeechStart) -> None:
        self._during_agent = self._agent_speaking
        self._barged = False
        self.turns.speech_started(e.onset)
        await self.bus.publish(ev.UserSpeechStarted(audio_t=e.onset))

    async def _ended(self, e: SpeechEnd) -> None:
        seg = e.segment
        await self.bus.publish(ev.UserSpeechEnded(audio_t=seg.offset, duration=seg.offset - seg.onset))
        if self.barge.state is BargeState.PAUSED:
            # the agent is waiting: a short look at the whole utterance decides, before the
            # full transcript (which pads to Whisper's 30 s window) comes in. From one frame
            # before the onset, as the first looks: the padding before holds the agent's echo
            audio = seg.audio[max(0, int(round((seg.onset - seg.start - FRAME_S) * SAMPLE_RATE))):]
            text = (await asyncio.to_thread(partial(self.asr.glance, audio, prompt=ACK_PROMPT))).text
            await self._act(self.barge.words(text, seg.offset - seg.onset))
        heard = HeardSegment(seg, during_agent=self._during_agent)
        if seg.burst:
            heard.ignored = "burst"
            self._report(heard)
            self.turns.speech_ended(seg.offset)
            await self._words(heard, "")
            return
        self.turns.speech_ended(seg.offset)
        if self.asr is not None:
            with self.bus.measure("asr"):
                result = await asyncio.to_thread(self.asr.transcribe, seg.audio, seg.start)
            heard.text, heard.asr_s = result.text, result.compute_s
            heard.words = tuple((w.text, w.start, w.end) for w in result.words)
            await self.bus.publish(ev.Transcript(text=result.text, words=heard.words,
                                                 language=result.language))
        if self.voice_affect is not None:
            asr_words = result.words if self.asr is not None else ()
            with self.bus.measure("voice_affect"):
                heard.affect = await asyncio.to_thread(self.voice_affect.estimate, seg.audio,
                                                       self.source.origin + seg.offset, asr_words)
            a = heard.affect
            if a.confidence > 0:
                await self.bus.publish(ev.AffectEstimated(source="voice", vad=tuple(a.vad),
                                                          confidence=a.confidence, label=a.label, cues=a.cues))
        if heard.during_agent and not self._barged:
            # the agent went on talking: a backchannel ("uh-huh"), or what the echo gate let by
            heard.ignored = "backchannel" if is_backchannel(heard.text) else "agent speaking"
        self._report(heard)
        await self._words(heard, "" if heard.ignored else heard.text)

    async def _words(self, heard: HeardSegment, text: str) -> None:
        decision = self.turns.transcript(text, self._now, cut_in=heard.during_agent and self._barged)
        if decision is not None:
            await self._end_of_turn(decision)

    def _report(self, heard: HeardSegment) -> None:
        if self.on_segment is not None:
            self.on_segment(heard)

    async def _end_of_turn(self, d: TurnDecision) -> None:
        await self.bus.publish(ev.EndOfTurn(text=d.text, audio_end_t=d.audio_end_t, decided_at=d.decided_at))

    # ------------------------------------------------------------------ barge-in
    async def _check_onset(self) -> BargeAction:
        """Look at the onset: a hum or an acknowledgement is held, a turn interrupts, and a look
        that tells nothing yet is taken again a frame later.

        The first looks are the backchannel head over Whisper's encoder (``OnsetJudge``: what
        the sound is, tens of ms); a held acknowledgement that goes on is judged by the words
        that follow it ("yeah, but ..."), which by then are long enough for Whisper to write.
        A hum is told by its sound alone.
        """
        held = self._held_at > self.barge.onset
        # from one frame before the onset: the padding further back holds more echo than voice
        since = self.barge.run_start if held else self.barge.onset
        audio = self.segmenter.current_audio()[-int(round((self._now - since + FRAME_S) * SAMPLE_RATE)):]
        loop = asyncio.get_running_loop()
        start = loop.time()
        if held:
            look = held_look((await asyncio.to_thread(self.asr.glance, audio)).text)
        else:
            p, hum = await asyncio.to_thread(self._look, audio)
            look = self.judge.verdict(p, self._now - self.barge.onset, hum)
            if look is Look.ACK and not hum:
                # the sound says acknowledgement; if the words say "stop", "wait", "what?" — more
                # reliable than Whisper's guesses at acknowledgements — the agent pauses instead
                text = (await asyncio.to_thread(self.asr.glance, audio)).text
                look = Look.UNSURE if calls_to_stop(text) else look
        self._check_s += loop.time() - start
        log.debug("barge-in look: %s", look.value)
        action = self.barge.resolve(look, self._now)
        if self.barge.state is BargeState.HELD:
            self._held_at = self._now
        return action

    def _look(self, audio: np.ndarray) -> tuple[float, bool]:
        return self.judge.probability(audio), hum_like(audio[FRAME:])

    async def _act(self, action: BargeAction) -> None:
        handler = {BargeAction.FIRE: self._barge_in, BargeAction.PAUSE: self._pause,
                   BargeAction.RESUME: self._resume}.get(action)
        if handler is not None:
            await handler()

    async def _barge_in(self) -> None:
        self._barged = True
        last = self.barge_ins[-1] if self.barge_ins else None
        if last is not None and last.outcome == "pause":  # the words decided: the turn is theirs
            last.outcome, last.settled_at = "interrupt", self._now
        else:
            self.barge_ins.append(BargeInRecord(self.barge.onset, self._now, self._check_s))
            self.echo.cut_after(self.source.origin + self._now)
        self._check_s = 0.0
        await self.bus.publish(ev.Interrupt(reason="barge-in"))

    async def _pause(self) -> None:
        self.barge_ins.append(BargeInRecord(self.barge.onset, self._now, self._check_s, "pause"))
        self._check_s = 0.0
        self.echo.cut_after(self.source.origin + self._now)
        await self.bus.publish(ev.Pause(reason="barge-in"))

    async def _resume(self) -> None:
        last = self.barge_ins[-1]
        last.outcome, last.settled_at = "resumed", self._now
        await self.bus.publish(ev.Resume(reason="backchannel"))


def build_hearing(bus: EventBus, *, input_audio: Path | None = None, realtime: bool = True,
                  live: bool = True, asr_model: str | None = None, allow_download: bool = False,
                  audio_device: str | int | None = None, progress: Callable[[str], None] | None = None,
                  config: HearingConfig | None = None) -> Hearing | None:
    """The real hearing stage: a file or the microphone, silero-vad, Whisper, prosody."""
    from perception.asr import WhisperAsr
    from perception.audio_source import FileAudioSource, MicrophoneSource
    from perception.vad import SileroVad
    from perception.voice_affect import VoiceAffect

    if input_audio is not None:
        source: AudioSource = FileAudioSource(input_audio, realtime=realtime)
    elif live:
        source = MicrophoneSource(audio_device)
    else:
        return None
    if progress is not None:
        progress("loading speech recognition and voice activity models")
    return Hearing(bus, source, WhisperAsr(asr_model, allow_download=allow_download, progress=progress),
                   SileroVad(), VoiceAffect(), EchoReference(), config)
