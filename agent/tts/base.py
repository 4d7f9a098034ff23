"""The TTS protocol every backend implements, and the prosody it is asked to speak with."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from agent.speech import SpeechChunk

if TYPE_CHECKING:
    from persona.config import Voice

log = logging.getLogger(__name__)

SILENCE = "_"
"""The phoneme of a pause or of leading/trailing silence (espeak-ng's pause mnemonic), so that
the phonemes of a chunk tile its audio from 0 to its duration with no gaps."""


@dataclass(frozen=True, slots=True)
class Prosody:
    """How to speak, relative to the voice's own defaults.

    ``rate`` multiplies speaking rate, ``pitch_semitones`` shifts the pitch level,
    ``pitch_range`` multiplies F0 excursions around the median (in semitones), ``volume``
    multiplies amplitude and ``pause_scale`` multiplies the length of pauses at punctuation.
    """

    rate: float = 1.0
    pitch_semitones: float = 0.0
    pitch_range: float = 1.0
    volume: float = 1.0
    pause_scale: float = 1.0

    @classmethod
    def of_voice(cls, voice: "Voice") -> "Prosody":
        """The persona's baseline: its voice settings with no emotion on top."""
        return cls(rate=voice.rate, pitch_semitones=voice.pitch, pitch_range=voice.pitch_range,
                   volume=voice.volume)


@runtime_checkable
class TTS(Protocol):
    """A speech synthesizer with phoneme timings.

    ``synthesize`` is a blocking generator (callers run it in a worker thread). It yields one
    ``SpeechChunk`` per sentence; each chunk's phonemes are IPA (stress marks folded into the
    ``stress`` flag, pauses as ``SILENCE``), times in seconds from the chunk's audio start, and
    they tile the chunk's audio exactly. When ``cancel`` is set it stops within one short
    synthesis step and yields nothing more.
    """

    name: str
    sample_rate: int

    def synthesize(self, text: str, prosody: Prosody,
                   cancel: threading.Event | None = None) -> Iterator[SpeechChunk]: ...


def make_tts(voice: "Voice", language: str = "en") -> TTS:
    """The backend a persona's voice names (``piper`` or ``espeak``), loaded and ready.

    For espeak, an ``espeak_voice`` the persona did not set follows its ``language``.
    """
    if voice.backend == "espeak":
        from agent.tts.espeak import EspeakTTS

        name = voice.espeak_voice
        if "espeak_voice" not in voice.model_fields_set and not language.startswith("en"):
            name = language
        return EspeakTTS(voice=name)
    from agent.tts.piper import PiperTTS

    if voice.model is None and not language.startswith("en"):
        log.warning("the bundled Piper voice speaks English but the persona's language is %s; "
                    "set voice.model to a %s Piper voice, or voice.backend: espeak", language, language)
    return PiperTTS(model=voice.model, speaker=voice.speaker)
