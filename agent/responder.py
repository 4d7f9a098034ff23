"""One reply at a time: choose the emotion, stream the LLM's sentences into TTS, play them on the
audio clock and move the mouth with them. ``interrupt()`` stops all of it in one call: synthesis,
queued audio, the mouth, the recording; only what was actually heard enters the history.
``pause()`` goes quiet the same way but keeps the reply (synthesis runs on): ``resume()`` says it
on from the word the pause cut, ``interrupt()`` ends it there."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.core.bus import EventBus
from agent.core.events import AgentEmotion, Prompt, ReplySentence, StageLatency, UtteranceEnded, UtteranceStarted
from agent.core.speech import SpeechChunk
from agent.turn_state import Turn, TurnState

log = logging.getLogger(__name__)
_utterance_ids = itertools.count(1)


@dataclass
class TurnTimes:
    """Session-clock stamps of one turn, for latency reports."""

    speech_end: float | None = None  # the user's speech really ended (input clock, mapped)
    vad_stop: float | None = None  # voice activity detection declared the end of speech
    transcript: float | None = None  # the transcript was ready
    decided: float | None = None  # end-of-turn decision
    emotion: float | None = None  # the agent's emotion was chosen
    first_token: float | None = None  # the LLM's first complete sentence
    first_audio: float | None = None  # first sample of the reply actually starts playing

    def spans(self) -> dict[str, float]:
        order = [("vad_stop", "speech_end", "vad_stop"), ("transcript", "vad_stop", "transcript"),
                 ("end_of_turn", "transcript", "decided"), ("emotion", "decided", "emotion"),
                 ("llm_first_sentence", "emotion", "first_token"),
                 ("first_audio", "first_token", "first_audio"),
                 ("total", "speech_end", "first_audio")]
        out = {}
        for name, a, b in order:
            ta, tb = getattr(self, a), getattr(self, b)
            if ta is not None and tb is not None:
                out[name] = tb - ta
        return out


@dataclass
class Played:
    """What one utterance put on the audio clock, to tell how much of it was heard."""

    chunks: list[tuple[float, SpeechChunk]] = field(default_factory=list)

    def heard_text(self, until: float) -> str:
        words: list[str] = []
        for start, chunk in self.chunks:
            if start >= until:
                break
            heard = until - start
            if heard >= chunk.duration - 1e-6:
                words.append(chunk.text)
            elif chunk.words:
                words.extend(w.word for w in chunk.words if w.end <= heard)
            else:  # no word timings: the share of characters matching the share of audio
                words.append(chunk.text[: int(len(chunk.text) * heard / chunk.duration)].rsplit(" ", 1)[0])
        return " ".join(w.strip() for w in words if w.strip())

    @property
    def end(self) -> float:
        return max((s + c.duration for s, c in self.chunks), default=0.0)


class Responder:
    def __init__(self, *, bus: EventBus, clock: Callable[[], float], dialogue: Any, tts: Any,
                 voice: Any, output: Any, animator: Any, turn: Turn,
                 on_chunk: Callable[[SpeechChunk, float], None] | None = None,
                 on_cut: Callable[[float], None] | None = None,
                 on_text: Callable[[str], None] | None = None) -> None:
        self.bus, self.clock, self.dialogue, self.tts = bus, clock, dialogue, tts
        self.voice, self.output, self.animator, self.turn = voice, output, animator, turn
        self._on_chunk = on_chunk or (lambda chunk, start: None)
        self._on_cut = on_cut or (lambda t: None)
        self._on_text = on_text or (lambda sentence: None)
        self._cancel = threading.Event()
        self._cut_at: float | None = None  # session time of the interrupt, if any
        self._pause: asyncio.Event | None = None  # set when a pause ends (resumed or interrupted)
        self._paused_at = 0.0
        self._queued_samples = 0  # samples handed to the output (its clock counts the played ones)
        self._played = Played()
        self._utterance: int | None = None
        self.times = TurnTimes()
        self.speaking = False
        self.emotion: Any = None  # the emotion the face and voice show now

    # ------------------------------------------------------------------ timing helpers
    def _start_of_next(self, chunk: SpeechChunk) -> float:
        """Session time at which ``chunk`` will start playing: now + audio still queued ahead."""
        ahead = max(0, self._queued_samples - self.output.position()) / self.output.sample_rate
        return max(self.clock() + ahead, self._played.end)

    def _latency(self, stage: str, seconds: float) -> None:
        self.bus.publish_nowait(StageLatency(stage=stage, seconds=seconds, turn=self.bus.turn))

    # ------------------------------------------------------------------ the reply
    def begin(self, times: TurnTimes | None = None) -> None:
        """A new reply starts (the agent thinks): from here ``interrupt()`` cancels it."""
        self.times = times or TurnTimes()
        self._cancel = threading.Event()
        self._cut_at = None
        self._pause = None
        self._played = Played()
        self.turn.to(TurnState.THINKING)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    async def respond(self, user_text: str, affect: Any, emotion: Any, recalled: Sequence[str] = (),
                      prepared: Any = None) -> str:
        """Reply to ``user_text`` with ``emotion`` (chosen already) and what memory ``recalled``
        (into the turn's note, after the cached prefix); returns what the user heard.
        ``prepared`` (``agent.speculation.Speculation``): a reply already under way for exactly
        this prompt is spoken instead of asking the LLM again."""
        heard = ""
        try:
            if not self.cancelled:
                await self.show_emotion(emotion)
                messages = self.dialogue.messages(user_text, emotion, affect, recalled)
                await self.bus.publish(Prompt(messages=tuple((m.role, m.content) for m in messages)))
                ready = await prepared.take(user_text, messages) if prepared is not None else None
                heard = await self.speak(ready or self.dialogue.stream(messages), emotion)
        finally:
            self.dialogue.commit(user_text, heard)
        return heard

    async def show_emotion(self, emotion: Any) -> None:
        self.emotion = emotion
        await self.bus.publish(AgentEmotion(label=emotion.label, vad=emotion.vad,
                                            intensity=emotion.intensity))
        if self.animator is not None:
            self.animator.set_emotion(emotion, self.clock())

    async def speak(self, sentences: AsyncIterator[str], emotion: Any) -> str:
        """Speak ``sentences`` with ``emotion``'s prosody (after ``begin``); returns what was heard.
        Without a voice (``agent chat``) the sentences are the reply, all of it heard."""
        if self.tts is None:
            return await self._write(sentences)
        from agent.tts.prosody import prosody_for
        from agent.tts.stream import speak_sentences

        self._queued_samples = self.output.position()
        heard = ""
        try:
            async for chunk in speak_sentences(self.tts, self._sentences(sentences),
                                               prosody_for(emotion, self.voice), self._cancel):
                await self._play(chunk)
            await self.output.drain()
            while await self._hold():  # paused at the very end: what was cut is said again
                await self.output.drain()
            heard = self._played.heard_text(self._played.end)  # drained: all of it was played
        finally:
            heard = await self._ended(heard)
        return heard

    async def _write(self, sentences: AsyncIterator[str]) -> str:
        said: list[str] = []
        try:
            async for sentence in self._sentences(sentences):
                if self.cancelled:
                    break
                if self._utterance is None:
                    await self._started(sentence, self.clock())
                if self.times.first_audio is None:
                    self.times.first_audio = self.clock()
                said.append(sentence)
                self._on_text(sentence)
        finally:
            await self._ended(" ".join(said), keep=True)
        return " ".join(said)

    async def _started(self, text: str, start: float) -> None:
        self._utterance = next(_utterance_ids)
        self.speaking = True
        self.turn.to(TurnState.SPEAKING)
        if self.animator is not None:
            self.animator.set_listening(False, start)
        await self.bus.publish(UtteranceStarted(utterance_id=self._utterance, text=text))

    async def _ended(self, heard: str, keep: bool = False) -> str:
        """The utterance is over; what was heard of it (``keep``: all of ``heard``)."""
        if self._utterance is not None:
            interrupted = self._cut_at is not None
            if self._cut_at is not None and not keep:
                heard = self._played.heard_text(self._cut_at)
            await self.bus.publish(UtteranceEnded(utterance_id=self._utterance,
                                                  interrupted=interrupted, heard_text=heard))
            self._utterance = None
        self.speaking = False
        if self.animator is not None:
            self.animator.set_listening(True, self.clock())
        self.turn.to(TurnState.LISTENING)
        return heard

    async def _sentences(self, source: AsyncIterator[str]) -> AsyncIterator[str]:
        index = 0
        async for sentence in source:
            if self.times.first_token is None:
                self.times.first_token = self.clock()
                if self.times.emotion is not None:
                    self._latency("llm_first_sentence", self.times.first_token - self.times.emotion)
            await self.bus.publish(ReplySentence(text=sentence, index=index))
            index += 1
            yield sentence

    async def _play(self, chunk: SpeechChunk) -> None:
        await self._hold()
        if self._cancel.is_set():
            return
        start = self._start_of_next(chunk)
        if self._utterance is None:
            self.output.start_utterance()
            await self._started(chunk.text, start)
        if self.times.first_audio is None:
            self.times.first_audio = start
            if self.times.speech_end is not None:
                self._latency("speech_end_to_first_audio", start - self.times.speech_end)
        self._played.chunks.append((start, chunk))
        if self.animator is not None:
            self.animator.speak(chunk, start)
        self._on_chunk(chunk, start)
        self._queued_samples += int(round(chunk.duration * self.output.sample_rate))
        await self.output.play(chunk)

    async def _hold(self) -> bool:
        """While paused, wait for the verdict; once resumed, say again what the pause cut, from
        the word it stopped in. Returns whether anything was said again."""
        replayed = False
        while self._pause is not None:
            await self._pause.wait()
            self._pause = None
            if self._cancel.is_set():
                break
            cut = self._paused_at
            cut_off = [(s, c) for s, c in self._played.chunks if s + c.duration > cut + 1e-6]
            self._played.chunks = [(s, c) for s, c in self._played.chunks if s + c.duration <= cut + 1e-6]
            for start, chunk in cut_off:
                if start < cut:  # heard in part: what was heard stays, the rest is said again
                    head, chunk = chunk.split_at_word(cut - start)
                    if head.duration > 0:
                        self._played.chunks.append((start, head))
                await self._play(chunk)
                replayed = True
        return replayed

    def _silence(self, now: float) -> None:
        if self.output is not None:
            self.output.cancel()
            self._queued_samples = self.output.position()
        if self.animator is not None:
            self.animator.interrupt(now)
        self._on_cut(now)

    def pause(self) -> bool:
        """Go quiet now, as an interrupt does, but keep the reply; returns False when nothing
        is being said."""
        if self.turn.state is not TurnState.SPEAKING:
            return False
        now = self.clock()
        self._paused_at = now
        self._pause = asyncio.Event()
        self._silence(now)
        self.turn.to(TurnState.PAUSED)
        return True

    def resume(self) -> bool:
        """Go on with a paused reply from the word the pause cut; False when not paused."""
        if self.turn.state is not TurnState.PAUSED or self._pause is None:
            return False
        self.turn.to(TurnState.SPEAKING)
        self._pause.set()
        return True

    def interrupt(self) -> bool:
        """Stop the reply now (a paused one where the pause cut it); returns False when nothing
        was being said (a no-op, not an error)."""
        if self.turn.state not in (TurnState.THINKING, TurnState.SPEAKING, TurnState.PAUSED):
            return False
        now = self.clock()
        self._cut_at = self._paused_at if self.turn.state is TurnState.PAUSED else now
        self._cancel.set()
        self._silence(now)
        self.turn.to(TurnState.INTERRUPTED)
        if self._pause is not None:
            self._pause.set()
        return True
