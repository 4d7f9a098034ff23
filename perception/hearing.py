"""Hearing: the stage that turns input audio into the user's speech events.

Per 32 ms frame (VAD and the echo gate run in a worker thread): silero-vad scores the frame,
the echo gate says whether it is only the agent's own voice coming back, and the segmenter
cuts utterances from what is left. An utterance that ends is transcribed (Whisper) and its
voice affect estimated (prosody), both off the event loop; the end-of-turn detector decides
when the user has finished. While the agent speaks, user speech that is not echo and not a
backchannel publishes ``Interrupt(reason="barge-in")`` directly — never by a round trip.

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
from pathlib import Path
from typing import Any

import numpy as np

from agent import events as ev
from agent.bus import EventBus
from agent.turns import (BargeAction, BargeIn, BargeState, EndOfTurnDetector, TurnConfig, TurnDecision, is_backchannel,
                         onset_verdict)
from perception.affect import AffectEstimate
from perception.audio_source import FRAME, FRAME_S, SAMPLE_RATE, AudioFrame, AudioSource
from perception.echo import EchoReference, EchoVerdict
from perception.hum import hum_like
from perception.vad import Segment, Segmenter, SpeechEnd, SpeechStart, VadConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HearingConfig:
    vad: VadConfig = field(default_factory=VadConfig)
    turn: TurnConfig = field(default_factory=TurnConfig)
    echo_residual: float = 0.5  # below this share of energy left after echo cancelling: echo only


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


@dataclass(frozen=True)
class BargeInRecord:
    onset: float  # input clock
    decided_at: float  # input clock (end of the frame that decided)
    check_s: float  # wall time spent looking at the onset's words


class Hearing:
    def __init__(self, bus: EventBus, source: AudioSource, asr: Any, vad: Any,
                 voice_affect: Any | None = None, echo: EchoReference | None = None,
                 config: HearingConfig | None = None,
                 on_segment: Callable[[HeardSegment], None] | None = None) -> None:
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
        self.barge = BargeIn(self.config.turn, can_check=asr is not None)
        self.barge_ins: collections.deque[BargeInRecord] = collections.deque(maxlen=64)
        self.frames = 0
        self._agent_speaking = False
        self._during_agent = False
        self._barged = False
        self._now = 0.0
        self._check_s = 0.0
        self._held_at = 0.0  # input time the current onset was held as a backchannel
        self._residuals: collections.deque[float] = collections.deque(maxlen=3)  # median: one odd frame is not a voice
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
        echo_only = verdict.playing and verdict.certain and \
            float(np.median(self._residuals)) < self.config.echo_residual
        heard = 0.0 if echo_only or (unsure and not self.segmenter.in_speech) else prob
        for e in self.segmenter.feed(frame.t, verdict.cleaned, heard):
            await self._handlers[type(e)](e)
        if self._agent_speaking:
            user = prob >= self.config.vad.threshold and not (echo_only or unsure)
            if self.barge.state is BargeState.QUIET:
                self._check_s = 0.0  # the compute of this onset's looks only
            action = self.barge.frame(frame.t, frame.end, user)
            if action is BargeAction.CHECK:
                action = await self._check_onset()
            if action is BargeAction.FIRE:
                await self._barge_in()
        decision = self.turns.tick(frame.end)
        if decision is not None:
            await self._end_of_turn(decision)

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
        decision = self.turns.transcript(text, self._now)
        if decision is not None:
            await self._end_of_turn(decision)

    def _report(self, heard: HeardSegment) -> None:
        if self.on_segment is not None:
            self.on_segment(heard)

    async def _end_of_turn(self, d: TurnDecision) -> None:
        await self.bus.publish(ev.EndOfTurn(text=d.text, audio_end_t=d.audio_end_t, decided_at=d.decided_at))

    # ------------------------------------------------------------------ barge-in
    async def _check_onset(self) -> BargeAction:
        """Look at the onset: a hum or a backchannel is held, a turn interrupts, and a look
        that tells nothing yet (no words, a lone "and") is taken again a frame later.

        The look is Whisper on a short window (``glance``: tens of ms, not the 0.6 s a padded
        30 s window costs), and a hum is told by its sound, since Whisper guesses words for it.
        """
        # from one frame before the onset: the padding further back holds more echo than voice
        # a held backchannel that goes on is judged by what came after it ("yeah, but ..."), not
        # by the hum again
        since = self.barge.run_start if self._held_at > self.barge.onset else self.barge.onset
        audio = self.segmenter.current_audio()[-int(round((self._now - since + FRAME_S) * SAMPLE_RATE)):]
        loop = asyncio.get_running_loop()
        start = loop.time()
        result, hum = await asyncio.to_thread(self._glance, audio)
        self._check_s += loop.time() - start
        backchannel = True if hum else onset_verdict(result.text)
        log.debug("barge-in check: %s", {None: "no words yet", True: "backchannel", False: "speech"}[backchannel])
        action = self.barge.resolve(backchannel, self._now)
        if self.barge.state is BargeState.HELD:
            self._held_at = self._now
        return action

    def _glance(self, audio: np.ndarray) -> tuple[Any, bool]:
        return self.asr.glance(audio), hum_like(audio[FRAME:])

    async def _barge_in(self) -> None:
        self._barged = True
        self.barge_ins.append(BargeInRecord(self.barge.onset, self._now, self._check_s))
        self._check_s = 0.0
        self.echo.cut_after(self.source.origin + self._now)
        await self.bus.publish(ev.Interrupt(reason="barge-in"))


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
