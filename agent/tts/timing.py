"""Phoneme segments in samples: how backends build timings that tile the audio exactly, and how
pauses are stretched without letting the timings drift from the samples that are played."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from agent.core.speech import PhonemeTiming, WordTiming
from agent.tts.base import SILENCE

PRIMARY_STRESS = "ˈ"
SECONDARY_STRESS = "ˌ"
_LENGTH_MARKS = frozenset("ːˑ")
_WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


@dataclass(slots=True)
class Segment:
    """One phoneme over the sample range [start, end) of a chunk's audio."""

    phoneme: str
    start: int
    end: int
    stress: bool = False
    word_start: bool = False  # the first phoneme of a word

    @property
    def length(self) -> int:
        return self.end - self.start


def is_modifier(symbol: str) -> bool:
    """IPA marks that belong to the phoneme before them (length marks, combining diacritics)."""
    return bool(symbol) and all(c in _LENGTH_MARKS or unicodedata.combining(c) for c in symbol)


def text_words(text: str) -> list[str]:
    return _WORD_RE.findall(text)


def merge_silence(segments: list[Segment]) -> list[Segment]:
    """Drop empty segments and join neighbouring pauses, keeping the tiling."""
    out: list[Segment] = []
    for s in segments:
        if s.length <= 0:
            continue
        if out and s.phoneme == SILENCE and out[-1].phoneme == SILENCE:
            out[-1].end = s.end
        else:
            out.append(s)
    return out


def fit_to_length(segments: list[Segment], n_samples: int) -> list[Segment]:
    """Make the segments end exactly at ``n_samples`` (the last one absorbs any difference)."""
    segments = [s for s in segments if s.start < n_samples]
    if not segments:
        return [Segment(SILENCE, 0, n_samples)] if n_samples > 0 else []
    if segments[0].start > 0:
        segments.insert(0, Segment(SILENCE, 0, segments[0].start))
    segments[-1].end = n_samples
    return merge_silence(segments)


def stretch_pauses(audio: np.ndarray, segments: list[Segment], scale: float,
                   sample_rate: int) -> tuple[np.ndarray, list[Segment]]:
    """Lengthen (scale > 1) or shorten (scale < 1) every pause by ``scale``.

    Silence is inserted or removed in the middle of each pause, where the signal is quietest,
    so speech sounds are untouched and every later timing moves by exactly the samples added.
    A pause keeps at least 10 ms so that words never run into each other.
    """
    if abs(scale - 1.0) < 1e-3 or not segments:
        return audio, segments
    floor = int(0.010 * sample_rate)
    pieces: list[np.ndarray] = []
    out: list[Segment] = []
    shift = 0
    for s in segments:
        piece = audio[s.start:s.end]
        if s.phoneme == SILENCE and s.length > 0:
            target = max(min(s.length, floor), int(round(s.length * scale)))
            mid = s.length // 2
            if target > s.length:
                gap = np.zeros(target - s.length, dtype=audio.dtype)
                piece = np.concatenate([piece[:mid], gap, piece[mid:]])
            elif target < s.length:
                cut = s.length - target
                lo = mid - cut // 2
                piece = np.concatenate([piece[:lo], piece[lo + cut:]])
        pieces.append(piece)
        out.append(Segment(s.phoneme, s.start + shift, s.start + shift + len(piece), s.stress,
                           s.word_start))
        shift += len(piece) - s.length
    return np.concatenate(pieces) if pieces else audio, out


def to_phonemes(segments: list[Segment], sample_rate: int) -> tuple[PhonemeTiming, ...]:
    return tuple(PhonemeTiming(s.phoneme, s.start / sample_rate, s.end / sample_rate, s.stress)
                 for s in segments)


def words_of(segments: list[Segment], text: str, sample_rate: int) -> tuple[WordTiming, ...]:
    """Word timings from the phonemes that start words, when they match the text's words.

    A mismatch (numbers or abbreviations the phonemizer expanded into several words) gives no
    word timings rather than wrong ones.
    """
    words = text_words(text)
    groups: list[list[Segment]] = []
    for s in segments:
        if s.phoneme == SILENCE:
            continue
        if s.word_start or not groups:
            groups.append([])
        groups[-1].append(s)
    if len(groups) != len(words):
        return ()
    return tuple(WordTiming(w, g[0].start / sample_rate, g[-1].end / sample_rate)
                 for w, g in zip(words, groups))


_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences as espeak-ng ends them: after . ! ? or … followed by white space."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]
