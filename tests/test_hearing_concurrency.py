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


class _Judging:
    """A listener that is (or is not) deciding a barge-in the whole time."""

    def __init__(self, looking: bool) -> None:
        self.looking = looking
        self.onset_under_way = looking

    async def frame(self, frame: object) -> None: ...

    async def speech_started(self, onset: float) -> None: ...

    async def speech_ended(self, segment: object) -> None: ...

    async def heard(self, heard: object, now: float) -> None: ...

    async def input_ended(self, now: float) -> None: ...


@pytest.mark.parametrize("looking", [False, True])
async def test_no_early_reading_holds_whisper_while_a_barge_in_look_is_due(looking: bool) -> None:
    """An early reading holds Whisper for 100-300 ms; a barge-in look waiting behind it made the
    agent go quiet up to 0.5 s late on the wall clock. A short dip inside the user's words
    starts one only when no look is due."""
    from perception.hearing import Hearing

    rng = np.random.default_rng(0)
    talk = (0.1 * rng.standard_normal(int(0.3 * SAMPLE_RATE))).astype(np.float32)
    audio = np.concatenate([np.zeros(3200, np.float32), talk, np.zeros(1600, np.float32), talk,
                            np.zeros(int(0.6 * SAMPLE_RATE), np.float32)])
    asr = FakeASR("wait I have a question")
    hearing = Hearing(EventBus(), ArrayAudioSource(audio), asr, FakeVAD(), None, listener=_Judging(looking))
    await hearing.run()
    # the dip's early reading (went on from) and the utterance's own, or the utterance's alone
    assert len(asr.heard) == (1 if looking else 2), asr.heard
