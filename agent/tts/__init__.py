"""Expressive text-to-speech: backends that return audio with phoneme timings, emotion → prosody,
and sentence streaming. Backends import their heavy libraries only when built (``make_tts``)."""

from agent.core.stages import TTS, Prosody
from agent.tts.base import SILENCE, make_tts
from agent.tts.prosody import prosody_for

__all__ = ["SILENCE", "TTS", "Prosody", "make_tts", "prosody_for"]
