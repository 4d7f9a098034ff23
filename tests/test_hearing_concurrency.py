"""Hearing keeps listening while Whisper works (issue 16): the frame loop analysed no frame for
0.5–0.8 s after each utterance, because it awaited the transcript and the voice reading. Now
transcription runs in its own task, so a live source's next utterance starts — and could barge
in — before the previous one's words are ready."""

from __future__ import annotations

import numpy as np
import pytest

from agent.core import events as ev
from agent.core.bus import EventBus
from agent.core.tasks import TaskOwner
from agent.testing import FakeASR, FakeVAD
from perception.audio_source import SAMPLE_RATE, ArrayAudioSource

pytestmark = pytest.mark.slow  # a live (real-time) source: about 2 s of wall clock


async def test_the_next_utterance_is_heard_while_the_last_one_is_transcribed() -> None:
    from perception.hearing import Hearing

    rng = np.random.default_rng(0)

    def talk(seconds: float) -> np.ndarray:
        return (0.1 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)

    def quiet(seconds: float) -> np.ndarray:
        return np.zeros(int(seconds * SAMPLE_RATE), np.float32)

    audio = np.concatenate([quiet(0.2), talk(0.4), quiet(0.45), talk(0.4), quiet(0.5)])
    bus = EventBus()
    sub = bus.subscribe("test", (ev.UserSpeechStarted, ev.Transcript), maxsize=64)
    asr = FakeASR("first words", "second words", compute_s=1.0)  # Whisper, slow
    hearing = Hearing(bus, ArrayAudioSource(audio, realtime=True), asr, FakeVAD(), None)
    async with TaskOwner("test") as owner:
        await owner.spawn(hearing.run(), "hearing")
    seen = []
    while (e := sub.channel.get_nowait()) is not None:
        seen.append(e)
    kinds = [(type(e).__name__, getattr(e, "text", "")) for e in seen]
    # the second utterance began while the first one's words were still being written
    assert kinds[:3] == [("UserSpeechStarted", ""), ("UserSpeechStarted", ""), ("Transcript", "first words")], kinds
    assert ("Transcript", "second words") in kinds
