"""Listening nods follow the user's pauses in real speech: espeak-ng phrases with pauses between
them go through the real hearing stage (silero-vad), its ``UserPause`` events drive the
animator, and every nod starts within half a second of a pause in the audio."""

from __future__ import annotations

import numpy as np
import pytest

from agent.core import events as ev
from agent.core.bus import EventBus
from agent.core.tasks import TaskOwner
from agent.testing import FakeASR
from perception.audio_source import SAMPLE_RATE, ArrayAudioSource
from persona.config import get_persona
from render.animator import Animator

pytestmark = pytest.mark.slow

PHRASES = ("I went to the market this morning", "and the baker had run out of bread",
           "so I walked over to the other shop", "which is a long way from here",
           "but they had everything I wanted")
GAPS = (0.55, 0.7, 0.45, 0.8)  # seconds of silence after each phrase but the last


async def _pauses(audio: np.ndarray) -> list[ev.UserPause]:
    from perception.hearing import Hearing
    from perception.vad import SileroVad

    bus = EventBus()
    sub = bus.subscribe("test", ev.UserPause, maxsize=64)
    hearing = Hearing(bus, ArrayAudioSource(audio, clock=lambda: 0.0), FakeASR(), SileroVad(), None)
    async with TaskOwner("test") as owner:
        await owner.spawn(hearing.run(), "hearing")
    found = []
    while (e := sub.channel.get_nowait()) is not None:
        found.append(e)
    return found


async def test_nods_start_within_half_a_second_of_the_users_pauses(speech) -> None:
    rng = np.random.default_rng(0)
    parts, pauses, t = [np.zeros(SAMPLE_RATE // 2, np.float32)], [], 0.5
    for phrase, gap in zip(PHRASES, (*GAPS, 1.0)):
        said = 0.5 * speech.say(phrase)
        t += len(said) / SAMPLE_RATE
        pauses.append(t)  # a pause in the audio begins here
        parts += [said, np.zeros(int(gap * SAMPLE_RATE), np.float32)]
        t += gap
    audio = np.concatenate(parts)
    audio = audio + rng.normal(0, 0.002, len(audio)).astype(np.float32)

    heard = await _pauses(audio)
    assert len(heard) >= len(PHRASES) - 1, [(e.audio_t, e.duration) for e in heard]
    animator = Animator(get_persona("companion"), fps=30.0, seed=0)
    animator.set_listening(True, 0.0)
    for e in heard:  # the session hands each pause on as it is published (same clock here)
        animator.user_paused(e.audio_t + e.duration)
    onsets = animator.nod_onsets()
    assert len(onsets) >= 3
    for onset in onsets:
        assert min(abs(onset - p) for p in pauses) < 0.5, (onset, pauses)
