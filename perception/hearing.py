"""Hearing: the stage that turns input audio into what the user said and how it sounded.

Per 32 ms frame (VAD and the echo gate run in a worker thread): silero-vad scores the frame,
the echo gate says whether it is only the agent's own voice coming back, and the segmenter
cuts utterances from what is left. Each frame's verdict goes to the ``listener`` (the agent's
turn-taking, which decides about barge-in and the end of the turn); an utterance that ends is
queued for transcription (Whisper) and voice affect (prosody) in a task of its own, so frame
analysis always keeps up: the next frames are analysed while Whisper reads the last utterance.

Perception only reports what it heard. Decisions — is the user taking the turn, has the turn
ended — are the listener's (``agent.turn_taking``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent.core import events as ev
from agent.core.affect import AffectEstimate, vad3
from agent.core.bus import EventBus
from agent.core.channel import Channel, ChannelClosed, Overflow
from agent.core.tasks import TaskOwner
from perception.audio_source import FRAME_S, SAMPLE_RATE, AudioFrame, AudioSource
from perception.echo import EchoReference, EchoVerdict
from perception.vad import Segment, Segmenter, SpeechEnd, SpeechStart, VadConfig

log = logging.getLogger(__name__)

TRANSCRIBE_QUEUE = 8  # utterances waiting for Whisper; the frame loop waits when it is full
# silent frames (160 ms) after speech that make a pause listeners answer (UserPause): longer
# than the gaps inside a phrase, shorter than the VAD's min_silence that ends an utterance
PAUSE_FRAMES = 5


@dataclass(frozen=True)
class HearingConfig:
    vad: VadConfig = field(default_factory=VadConfig)
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
    # a frame the echo explains nothing of (residual >= 0.9), that the VAD calls speech, this far
    # over the noise, is the voice already (an "s", an "h"): the onset's looks are timed from it
    plain_db: float = 6.0
    # Whisper starts on an utterance this many frames into the silence after it (64 ms), before
    # the VAD has waited out its ``min_silence`` (256 ms) to close it: if no speech follows, the
    # words are ready when the utterance closes. A short pause between words costs one early
    # pass at most (one runs at a time).
    early_after_frames: int = 2


@dataclass(frozen=True, slots=True)
class HeardFrame:
    """One input frame [t, end) as heard: ``user`` is speech that is not the agent's echo;
    ``lead``: a quiet consonant the VAD let pass already began that long before the frame;
    ``heard_before``: a voice the echo explained nothing of was heard that long before it (the
    median over frames that keeps one odd frame from counting held it back); ``masked``: not
    ``user`` only because of that median, though more is left of the frame after cancelling
    than the echo leaves (a syllable under the loudest echo, or the first after it)."""

    t: float
    end: float
    user: bool
    lead: float = 0.0
    heard_before: float = 0.0
    masked: bool = False


@dataclass
class _Reading:
    """Whisper's words for an utterance's audio, then its voice affect (prosody reads the words
    for the speaking rate); each a task, so the words can be published before the voice."""

    asr: asyncio.Task[Any]
    voice: asyncio.Task[AffectEstimate | None]
    finished: asyncio.Task[float | None] | None = None  # how finished the turn sounds (Smart Turn)
    onset: float = 0.0  # of an early reading: the utterance's first speech frame, input clock
    until: float = 0.0  # ... and the input time its audio ran to: valid if no speech came after
    stale: bool = False  # the user went on: nobody will use it


@dataclass
class HeardSegment:
    """One utterance as heard: what ``agent perceive`` prints and tests inspect."""

    segment: Segment
    text: str = ""
    words: tuple[tuple[str, float, float], ...] = ()
    affect: AffectEstimate | None = None
    asr_s: float = 0.0
    finished: float | None = None  # the probability it sounds like a finished turn (None: not judged)
    during_agent: bool = False
    ignored: str = ""  # why it did not count as a turn ("backchannel", "burst", ""): the listener's call


class HearingListener(Protocol):
    """Who decides what the user's speech means (``agent.turn_taking.TurnTaker``).

    Calls come in input-clock order: frames, utterance starts and ends from the frame loop, the
    words of an utterance from the transcription task once Whisper has read it."""

    @property
    def onset_under_way(self) -> bool:
        """A user onset over the agent is being judged: its frames are not the agent's echo."""

    @property
    def looking(self) -> bool:
        """Whether the agent must go quiet is being decided now, by looks at Whisper that must
        not wait for a transcription."""

    async def frame(self, frame: HeardFrame) -> None: ...

    async def speech_started(self, onset: float) -> None: ...

    async def speech_ended(self, segment: Segment) -> None: ...

    async def heard(self, heard: HeardSegment, now: float) -> None: ...

    async def input_ended(self, now: float) -> None: ...


class Hearing:
    def __init__(self, bus: EventBus, source: AudioSource, asr: Any, vad: Any,
                 voice_affect: Any | None = None, echo: EchoReference | None = None,
                 config: HearingConfig | None = None,
                 on_segment: Callable[[HeardSegment], None] | None = None,
                 listener: HearingListener | None = None, turn_end: Any | None = None) -> None:
        self.bus = bus
        self.source = source
        self.asr = asr
        self.vad = vad
        self.voice_affect = voice_affect
        self.echo = echo or EchoReference()
        self.config = config or HearingConfig()
        self.on_segment = on_segment
        self.listener = listener
        self.turn_end = turn_end  # perception.turn_end.TurnEndModel: does an utterance sound finished
        self.segmenter = Segmenter(self.config.vad)
        self.frames = 0
        self.now = 0.0  # end of the newest frame analysed, input clock
        self._owner = TaskOwner("hearing")
        self._utterances: Channel[HeardSegment] = Channel(TRANSCRIBE_QUEUE, Overflow.WAIT, "transcribe")
        self._residuals: collections.deque[float] = collections.deque(maxlen=3)  # median: one odd frame is not a voice
        self._playback_residuals: collections.deque[float] = collections.deque(maxlen=62)  # 2 s of playback
        self._pending_residuals: collections.deque[float] = collections.deque()  # the last 0.3 s of it
        self._before: collections.deque[bool] = collections.deque(maxlen=self.config.lead_frames)  # voiced-loud frames
        self._plain: collections.deque[bool] = collections.deque(maxlen=self.config.lead_frames)  # ... unexplained too
        self._early: _Reading | None = None
        self.early_used = 0  # utterances whose words were ready from an early pass
        self.early_wasted = 0  # early passes thrown away (the user went on)
        self._idle = asyncio.Event()  # no utterance waits for transcription
        self._idle.set()
        self._handlers: dict[type, Callable[[Any], Any]] = {SpeechStart: self._started, SpeechEnd: self._ended}

    # ------------------------------------------------------------------ for the session
    def agent_said(self, audio: np.ndarray, sample_rate: int, t: float) -> None:
        """The agent's voice, played from monotonic time ``t``: the echo gate's reference."""
        self.echo.push(audio, sample_rate, t)

    def cut_echo_after(self, input_t: float) -> None:
        """The agent went quiet at ``input_t`` (input clock): no echo comes after it."""
        self.echo.cut_after(self.source.origin + input_t)

    def audio_since(self, t: float) -> np.ndarray:
        """The current utterance's audio from one frame before input time ``t`` to now."""
        return self.segmenter.current_audio()[-int(round((self.now - t + FRAME_S) * SAMPLE_RATE)):]

    def speech_audio_from(self, segment: Segment, t: float) -> np.ndarray:
        """``segment``'s audio from one frame before input time ``t``."""
        return segment.audio[max(0, int(round((t - segment.start - FRAME_S) * SAMPLE_RATE))):]

    # ------------------------------------------------------------------ the stage
    async def run(self) -> None:
        self.vad.reset()
        worker = self._owner.spawn(self._transcribe_loop(), "transcribe")
        try:
            while (frame := await self.source.recv()) is not None:
                await self._frame(frame)
            for e in self.segmenter.flush():
                await self._handlers[type(e)](e)
        finally:
            self._utterances.close()  # the worker reads what is queued, then ends
        await worker
        if self.listener is not None:
            await self.listener.input_ended(self.now)

    async def aclose(self) -> None:
        self._utterances.close()
        await self._owner.aclose(1.0)
        await self.source.aclose()

    async def _frame(self, frame: AudioFrame) -> None:
        self.frames += 1
        self.now = frame.end
        prob, verdict = await asyncio.to_thread(self._analyse, frame, self.source.origin + frame.t)
        self._residuals.append(verdict.residual)
        # while the echo path is still unknown, playback can neither start an utterance nor
        # interrupt, but it does not cut short one the user had already begun
        unsure = verdict.playing and not verdict.certain
        # with the echo path learnt, a frame is echo only when too little is left of it after
        # cancelling (``_echo_bar`` learns the room's typical residual from these frames) or
        # what is left is not above the room's noise
        learnt = verdict.playing and verdict.certain and verdict.delay is not None
        bar = self._echo_bar(verdict.residual) if learnt else 0.0
        over_floor = verdict.above_floor_db >= self.config.voice_over_floor_db
        echo_only = learnt and (float(np.median(self._residuals)) < bar or not over_floor)
        heard = 0.0 if echo_only or (unsure and not self.segmenter.in_speech) else prob
        for e in self.segmenter.feed(frame.t, verdict.cleaned, heard):
            await self._handlers[type(e)](e)
        # an early reading holds Whisper for 100-300 ms: not while a barge-in look is due
        if self.segmenter.quiet_frames == self.config.early_after_frames and \
                not (self.listener is not None and self.listener.looking):
            self._start_early()
        if self.segmenter.quiet_frames == PAUSE_FRAMES:  # a pause between phrases, or the end
            pause = PAUSE_FRAMES * FRAME_S
            await self.bus.publish(ev.UserPause(audio_t=self.now - pause, duration=pause))
        if self.listener is not None:
            user = prob >= self.config.vad.threshold and not (echo_only or unsure)
            masked = echo_only and prob >= self.config.vad.threshold and over_floor and verdict.residual >= bar
            # from the earliest loud frame just before (a stop's closure may sit between it and the vowel)
            loud = [i for i, is_loud in enumerate(self._before) if is_loud]
            lead = FRAME_S * (len(self._before) - loud[0]) if loud else 0.0
            plain = [i for i, is_plain in enumerate(self._plain) if is_plain]
            heard_before = FRAME_S * (len(self._plain) - plain[0]) if plain else 0.0
            await self.listener.frame(HeardFrame(frame.t, frame.end, user, lead, heard_before, masked))
        self._before.append(not (echo_only or unsure) and verdict.above_floor_db >= self.config.lead_db)
        self._plain.append(not unsure and prob >= self.config.vad.threshold and verdict.residual >= 0.9
                           and verdict.above_floor_db >= self.config.plain_db)

    def _echo_bar(self, residual: float) -> float:
        """The residual share below which a frame of playback is echo only (see HearingConfig).

        It is learnt from the echo alone: a frame counts 0.3 s later, once no user onset began
        around it, and none counts while one goes on — else a user talking over the agent
        would raise the bar against their own voice within a few frames."""
        c = self.config
        if self.listener is None or not self.listener.onset_under_way:
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

    # ------------------------------------------------------------------ utterances
    async def _started(self, e: SpeechStart) -> None:
        if self.listener is not None:
            await self.listener.speech_started(e.onset)
        await self.bus.publish(ev.UserSpeechStarted(audio_t=e.onset))

    async def _ended(self, e: SpeechEnd) -> None:
        seg = e.segment
        await self.bus.publish(ev.UserSpeechEnded(audio_t=seg.offset, duration=seg.offset - seg.onset))
        if self.listener is not None:
            await self.listener.speech_ended(seg)
        self._idle.clear()
        await self._utterances.put(HeardSegment(seg, ignored="burst" if seg.burst else ""))
        if not getattr(self.source, "realtime", True):
            # frames faster than they were spoken (a file as fast as it reads, a test): the input
            # clock would run ahead of Whisper, so frames wait for its words, and every decision
            # is the same as at real pace with an instant transcription
            await self._idle.wait()

    def _start_early(self) -> None:
        """Whisper and prosody on the utterance so far, in case it has ended."""
        if self.asr is None or (self._early is not None and not self._early.voice.done()):
            return
        if self._early is not None:
            self._early.stale = True
            self.early_wasted += 1
        audio, start = self.segmenter.current_audio(), self.segmenter.start
        self._early = self._read(audio, start, start + len(audio) / SAMPLE_RATE, "early")
        self._early.onset, self._early.until = self.segmenter.onset, self.now

    def _read(self, audio: np.ndarray, start: float, end: float, name: str) -> _Reading:
        asr = self._owner.spawn(asyncio.to_thread(self.asr.transcribe, audio, start), f"{name} words")

        async def voice() -> AffectEstimate | None:
            words = tuple((await asr).words)
            if self.voice_affect is None or reading.stale:
                return None  # no prosody for an early reading the user already went on from
            return await asyncio.to_thread(self.voice_affect.estimate, audio, self.source.origin + end, words)

        reading = _Reading(asr, asr)  # the voice task is set below, once the reading exists
        reading.voice = self._owner.spawn(voice(), f"{name} voice")
        if self.turn_end is not None:  # beside Whisper: it needs no words
            reading.finished = self._owner.spawn(asyncio.to_thread(self.turn_end.probability, audio),
                                                 f"{name} turn end")
        return reading

    def _early_for(self, seg: Segment) -> _Reading | None:
        """The early pass that read all of ``seg``'s speech, if there is one."""
        early, self._early = self._early, None
        if early is not None and early.onset == seg.onset and seg.offset <= early.until + 1e-9:
            self.early_used += 1
            return early
        if early is not None:
            early.stale = True
            self.early_wasted += 1
        return None

    async def _transcribe_loop(self) -> None:
        """Whisper and prosody for each utterance in turn, off the frame loop."""
        while True:
            if not len(self._utterances):
                self._idle.set()
            try:
                heard = await self._utterances.get()
            except ChannelClosed:
                self._idle.set()
                return
            self._idle.clear()
            if not heard.ignored:
                await self._transcribe(heard)
            if self.listener is not None:
                await self.listener.heard(heard, self.now)
            if self.on_segment is not None:
                self.on_segment(heard)

    async def _transcribe(self, heard: HeardSegment) -> None:
        """The utterance's words and voice affect: from the early pass when it read all of the
        speech, else read now. The turn is decided (``listener.heard``) once both are in, so the
        reply that follows fuses the voice."""
        seg = heard.segment
        if self.asr is None:
            return
        reading = self._early_for(seg) or self._read(seg.audio, seg.start, seg.offset, "utterance")
        with self.bus.measure("asr"):
            result = await reading.asr
        heard.text, heard.asr_s = result.text, result.compute_s
        heard.words = tuple((w.text, w.start, w.end) for w in result.words)
        await self.bus.publish(ev.Transcript(text=result.text, words=heard.words, language=result.language))
        heard.affect = affect = await reading.voice
        heard.finished = await reading.finished if reading.finished is not None else None
        if affect is not None and affect.confidence > 0:
            await self.bus.publish(ev.AffectEstimated(
                source="voice", vad=vad3(affect.vad), confidence=affect.confidence, label=affect.label,
                cues=affect.cues))

    async def glance(self, audio: np.ndarray, prompt: str | None = None) -> str:
        """Whisper's quick read of a short clip (an onset, a paused utterance), off the loop."""
        kwargs = {} if prompt is None else {"prompt": prompt}
        return (await asyncio.to_thread(partial(self.asr.glance, audio, **kwargs))).text


def build_hearing(bus: EventBus, *, input_audio: Path | None = None, realtime: bool = True,
                  live: bool = True, asr_model: str | None = None, allow_download: bool = False,
                  audio_device: str | int | None = None, progress: Callable[[str], None] | None = None,
                  config: HearingConfig | None = None, language: str = "en") -> Hearing | None:
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
    asr = WhisperAsr(asr_model, allow_download=allow_download, progress=progress, language=language)
    from perception.turn_end import TurnEndModel

    return Hearing(bus, source, asr, SileroVad(), VoiceAffect(), EchoReference(), config, turn_end=TurnEndModel())
