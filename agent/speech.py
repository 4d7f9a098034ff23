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
