"""espeak-ng through its C library: instant, ~100 languages, direct pitch control, and phoneme
events that say at which sample each phoneme starts.

The C API is process-global (one voice, one callback, one set of parameters), so every call
into it holds ``_LOCK``. Synthesis is synchronous; the callback returning 1 aborts it, which is
how cancellation stops espeak within one 60 ms buffer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from agent.core.errors import MissingDependency, UserError
from agent.core.speech import SpeechChunk, WordTiming
from agent.core.stages import Prosody
from agent.tts.base import SILENCE
from agent.tts.timing import (
    PRIMARY_STRESS,
    SECONDARY_STRESS,
    Segment,
    fit_to_length,
    merge_silence,
    stretch_pauses,
    to_phonemes,
)

log = logging.getLogger(__name__)

INSTALL = "sudo apt-get install libespeak-ng1"

# espeak_AUDIO_OUTPUT, espeak_Initialize options, event types, parameters (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EV_LIST_TERMINATED, _EV_WORD, _EV_SENTENCE, _EV_PHONEME = 0, 1, 2, 7
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_TTP_IPA = 0x02

DEFAULT_RATE_WPM = 175
# espeak at volume 100 is ~1.5x as loud (RMS) as Piper's voice and clips above ~140: scaling its
# volume parameter by this keeps the two backends at one loudness and espeak below clipping.
VOLUME_MATCH = 0.67
# espeak's pitch parameter (0..100, 50 = the voice's own) against the measured shift of the
# median F0 in semitones (en-us, en-gb and es agree within 0.3 st); interpolated between.
_PITCH_PARAM = (0.0, 25.0, 50.0, 75.0, 100.0)
_PITCH_SEMITONES = (-7.25, -3.95, 0.0, 4.2, 8.8)

_LOCK = threading.Lock()
_LIB: _Espeak | None = None


class _Id(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _Id)]


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p),
                ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte),
                ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int),
                ("spare", ctypes.c_void_p)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass
class _Job:
    """What one synthesis collects from the callback."""

    cancel: threading.Event | None
    audio: list[np.ndarray] = field(default_factory=list)
    phonemes: list[tuple[int, str]] = field(default_factory=list)  # (sample, IPA or "")
    words: list[tuple[int, int, int]] = field(default_factory=list)  # (sample, text pos, length)
    sentences: list[tuple[int, int]] = field(default_factory=list)  # (sample, text pos)
    aborted: bool = False


class _Espeak:
    """The loaded, initialised library (one per process)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            raise MissingDependency("the espeak-ng library (libespeak-ng)", INSTALL) from None
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
                                              ctypes.c_int]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                     _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT)
        if rate <= 0:
            raise MissingDependency("espeak-ng's voice data (espeak-ng-data)",
                                    "sudo apt-get install espeak-ng-data")
        self.lib = lib
        self.sample_rate = int(rate)
        self.job: _Job | None = None
        self.voice: str | None = None
        self._callback = _CALLBACK(self._on_audio)  # kept alive as long as the library
        lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav: ctypes._Pointer[ctypes.c_short], n: int,
                  events: ctypes._Pointer[_Event]) -> int:
        job = self.job
        if job is None:
            return 1
        if job.cancel is not None and job.cancel.is_set():
            job.aborted = True
            return 1
        if wav and n > 0:
            job.audio.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
        i = 0
        while events[i].type != _EV_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EV_PHONEME:
                job.phonemes.append((ev.sample, bytes(ev.id.string).split(b"\0", 1)[0]
                                     .decode("utf-8", "replace")))
            elif ev.type == _EV_WORD:
                job.words.append((ev.sample, ev.text_position, ev.length))
            elif ev.type == _EV_SENTENCE:
                job.sentences.append((ev.sample, ev.text_position))
            i += 1
        return 0

    def set_voice(self, voice: str) -> None:
        """A voice by name or file (``en-us``, ``gmw/en``) or by language code (``en-gb``)."""
        if voice == self.voice:
            return
        by_language = _Voice(languages=voice.encode())
        if (self.lib.espeak_SetVoiceByName(voice.encode()) != 0
                and self.lib.espeak_SetVoiceByProperties(ctypes.byref(by_language)) != 0):
            self.voice = None
            raise UserError(f"espeak-ng has no voice {voice!r}; list them with: espeak-ng --voices")
        self.voice = voice

    def stressed_phonemes(self, text: str) -> list[str]:
        """The text's phonemes with stress marks, as espeak's phonemizer writes them."""
        buf = ctypes.create_string_buffer(text.encode("utf-8"))
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        out: list[str] = []
        while ptr.value:
            res = self.lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8,
                                                 _TTP_IPA | (ord("|") << 8))
            if res:
                out.extend(t for word in res.decode("utf-8", "replace").split()
                           for t in word.split("|") if t)
        return out


def _library() -> _Espeak:
    global _LIB
    if _LIB is None:
        _LIB = _Espeak()
    return _LIB


def pitch_parameter(semitones: float) -> int:
    """espeak's pitch parameter (0..100) for a shift in semitones from the voice's own."""
    return int(round(np.interp(semitones, _PITCH_SEMITONES, _PITCH_PARAM)))


class EspeakTTS:
    """espeak-ng voice ``voice`` (``en-us``, ``en-gb``, ``es``, ``fr``, ... see ``espeak-ng --voices``)."""

    name = "espeak"

    def __init__(self, voice: str = "en-us") -> None:
        with _LOCK:
            lib = _library()
            lib.set_voice(voice)  # fail now, not at the first sentence
        self.voice = voice
        self.sample_rate = lib.sample_rate

    def synthesize(self, text: str, prosody: Prosody,
                   cancel: threading.Event | None = None) -> Iterator[SpeechChunk]:
        text = " ".join(text.split())
        if not text or (cancel is not None and cancel.is_set()):
            return
        job = _Job(cancel)
        data = text.encode("utf-8")
        with _LOCK:
            lib = _library()
            lib.set_voice(self.voice)
            e = lib.lib
            e.espeak_SetParameter(_RATE, int(np.clip(DEFAULT_RATE_WPM * prosody.rate, 80, 450)), 0)
            e.espeak_SetParameter(_PITCH, pitch_parameter(prosody.pitch_semitones), 0)
            e.espeak_SetParameter(_RANGE, int(np.clip(50 * prosody.pitch_range, 0, 100)), 0)
            e.espeak_SetParameter(_VOLUME, int(np.clip(100 * VOLUME_MATCH * prosody.volume, 0, 200)), 0)
            lib.job = job
            try:
                e.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            finally:
                lib.job = None
            stressed = [] if job.aborted else lib.stressed_phonemes(text)
        if job.aborted or not job.audio:
            return
        audio = np.concatenate(job.audio)
        segments = _segments(job.phonemes, stressed, len(audio))
        for index, (lo, hi, sentence) in enumerate(_sentence_spans(job, text, len(audio))):
            if cancel is not None and cancel.is_set():
                return
            part = [Segment(s.phoneme, max(s.start, lo) - lo, min(s.end, hi) - lo, s.stress,
                            s.word_start) for s in segments if s.end > lo and s.start < hi]
            piece = audio[lo:hi]
            part = fit_to_length(part, len(piece))
            piece, part = stretch_pauses(piece, part, prosody.pause_scale, self.sample_rate)
            words = _words(job, text, part, lo, hi, self.sample_rate)
            yield SpeechChunk(audio=np.ascontiguousarray(piece, dtype=np.float32),
                              sample_rate=self.sample_rate, text=sentence,
                              phonemes=to_phonemes(part, self.sample_rate), words=words,
                              sentence_index=index, last=True)


def _segments(events: list[tuple[int, str]], stressed: list[str], n: int) -> list[Segment]:
    """Phoneme events (start sample, IPA) → segments that tile [0, n); pauses are SILENCE.

    Stress comes from espeak's own phonemizer output for the same text, matched phoneme by
    phoneme; where the two disagree the rest is left unstressed rather than guessed.
    """
    marks = iter(stressed)
    matching = True
    out: list[Segment] = []
    bounds = [s for s, _ in events[1:]] + [n]
    for (start, name), end in zip(events, bounds):
        start, end = min(max(start, 0), n), min(max(end, 0), n)
        if not name:
            out.append(Segment(SILENCE, start, end))
            continue
        stress = False
        if matching:
            token = next(marks, "")
            bare = token.replace(PRIMARY_STRESS, "").replace(SECONDARY_STRESS, "")
            if bare == name:
                stress = PRIMARY_STRESS in token
            else:
                matching = False
        out.append(Segment(name, start, end, stress))
    return fit_to_length(merge_silence(out), n)


def _sentence_spans(job: _Job, text: str, n: int) -> list[tuple[int, int, str]]:
    """(first sample, end sample, text) of each sentence espeak spoke."""
    marks = sorted({(s, p) for s, p in job.sentences if 0 < s < n})
    starts = [(0, 1)] + marks
    spans = []
    for i, (s, pos) in enumerate(starts):
        end, next_pos = (marks[i][0], marks[i][1]) if i < len(marks) else (n, len(text) + 1)
        if end > s:
            spans.append((s, end, text[pos - 1:next_pos - 1].strip()))
    return spans


def _words(job: _Job, text: str, segments: list[Segment], lo: int, hi: int,
           sample_rate: int) -> tuple[WordTiming, ...]:
    """Word events inside [lo, hi), snapped to phonemes: a word runs from its first phoneme to the
    last phoneme that starts before the next word's event."""
    inside = [(s - lo, p, length) for s, p, length in job.words if lo <= s < hi]
    out = []
    for i, (mark, pos, length) in enumerate(inside):
        limit = inside[i + 1][0] if i + 1 < len(inside) else hi - lo
        own = [seg for seg in segments if seg.phoneme != SILENCE and mark <= seg.start < limit]
        start, end = (own[0].start, own[-1].end) if own else (mark, limit)
        out.append(WordTiming(text[pos - 1:pos - 1 + length], start / sample_rate, end / sample_rate))
    return tuple(out)
