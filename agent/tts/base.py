"""Choosing a TTS backend (the protocol is ``agent.core.stages.TTS``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agent.core.stages import TTS

if TYPE_CHECKING:
    from persona.config import Voice

log = logging.getLogger(__name__)

SILENCE = "_"
"""The phoneme of a pause or of leading/trailing silence (espeak-ng's pause mnemonic), so that
the phonemes of a chunk tile its audio from 0 to its duration with no gaps."""


def make_tts(voice: Voice, language: str = "en") -> TTS:
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
