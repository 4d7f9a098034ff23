"""Speech data shared by TTS, playback, animation and plugins."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class PhonemeTiming:
    """One phoneme of synthesized speech.

    ``phoneme`` is an IPA symbol as espeak-ng/Piper emit it (stress marks removed; ``stress``
    says whether the syllable carries primary stress). Times are seconds from the start of the
    chunk's audio, true to the samples that are actually played.
    """

    phoneme: str
    start: float
    end: float
    stress: bool = False


@dataclass(frozen=True, slots=True)
class WordTiming:
    word: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class SpeechChunk:
    """A piece of synthesized speech: mono float32 audio in [-1, 1] with its timings."""

    audio: np.ndarray
    sample_rate: int
    text: str = ""
    phonemes: tuple[PhonemeTiming, ...] = ()
    words: tuple[WordTiming, ...] = ()
    sentence_index: int = 0
    last: bool = False  # the last chunk of its sentence
    meta: dict[str, float] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def split_at_word(self, t: float) -> tuple[SpeechChunk, SpeechChunk]:
        """(what came before the word being said ``t`` seconds in, the rest from that word):
        after a pause the rest is said again. Without word timings the whole chunk is the rest."""
        start = max((w.start for w in self.words if w.start <= t + 1e-9), default=0.0)
        cut = int(round(start * self.sample_rate))
        before = [w for w in self.words if w.start < start - 1e-9]
        head = SpeechChunk(self.audio[:cut], self.sample_rate, " ".join(w.word for w in before),
                           tuple(p for p in self.phonemes if p.start < start - 1e-9), tuple(before),
                           self.sentence_index, False, dict(self.meta))
        after = [w for w in self.words if w.start >= start - 1e-9]
        tail = SpeechChunk(self.audio[cut:], self.sample_rate,
                           " ".join(w.word for w in after) if self.words else self.text,
                           tuple(PhonemeTiming(p.phoneme, p.start - start, p.end - start, p.stress)
                                 for p in self.phonemes if p.start >= start - 1e-9),
                           tuple(WordTiming(w.word, w.start - start, w.end - start) for w in after),
                           self.sentence_index, self.last, dict(self.meta))
        return head, tail
