"""Real speech for perception tests: espeak-ng sentences, cached as wavs per test session, laid
on a timeline with noise and silence (the true onsets are known). The synthesis and the room
live in ``agent.bench.speech``, shared with the benchmarks and the training scripts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.bench.speech import PiperLines, TalkOver, espeak, have_espeak, mix, noise, room_echo, trim, wer  # noqa: F401

SENTENCES = (
    "The weather is lovely today, so we walked to the park.",
    "Can you tell me how the engine works?",
    "I would like two cups of coffee and a glass of water.",
    "Please open the window before the meeting starts.",
)


class Speech:
    """espeak-ng synthesis (the real TTS the project can fall back on), trimmed to the voice."""

    def __init__(self, cache: Path) -> None:
        if not have_espeak():
            pytest.skip("espeak-ng is not installed (apt install espeak-ng)")
        self.cache = cache

    def say(self, text: str, *, voice: str = "en-us", speed: int = 160, pitch: int = 50,
            amplitude: int = 100) -> np.ndarray:
        return espeak(text, voice=voice, speed=speed, pitch=pitch, amplitude=amplitude, cache=self.cache)


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    return Speech(tmp_path_factory.mktemp("speech"))
