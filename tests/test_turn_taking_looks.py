"""The turn-taker's looks at an onset over the agent, with a fake hearing and judge (the sound's
verdict and the words are given) and the real turn-taking code and backchannel head's bars."""

from __future__ import annotations

import numpy as np

from agent.core.bus import EventBus
from agent.turn_taking import TurnTaker
from agent.turns import BargeState
from perception.audio_source import FRAME_S, SAMPLE_RATE
from perception.backchannel import BackchannelHead
from perception.hearing import HeardFrame


class _Hearing:
    """Whisper hears "Hold on" only with the breath of its "h", which came a frame before the
    gate let the voice through."""

    def __init__(self, breath_at: float) -> None:
        self.breath_at = breath_at
        self.read_from: list[float] = []

    def audio_since(self, t: float) -> np.ndarray:
        self.read_from.append(t)
        return np.random.default_rng(0).standard_normal(int(0.3 * SAMPLE_RATE)).astype(np.float32) * 0.1

    async def glance(self, audio: np.ndarray, prompt: str | None = None) -> str:
        return "Hold on." if min(self.read_from) <= self.breath_at else "all the"

    def cut_echo_after(self, t: float) -> None:
        pass


class _Judge:
    head = BackchannelHead()

    def probability(self, audio: np.ndarray) -> float:
        return 0.97  # the sound alone says acknowledgement, confidently and wrongly


async def test_the_words_of_an_onset_are_read_from_the_first_sign_of_the_voice() -> None:
    hearing = _Hearing(breath_at=3.488)
    taker = TurnTaker(EventBus(), hearing, judge=_Judge())  # type: ignore[arg-type]
    taker.agent_speaking = True
    t = 3.52  # the gate lets the voice through here; the "h" was heard the frame before
    while taker.barge.state in (BargeState.QUIET, BargeState.ONSET):
        await taker.frame(HeardFrame(t, t + FRAME_S, True, heard_before=FRAME_S if t == 3.52 else 0.0))
        t += FRAME_S
    assert min(hearing.read_from) <= 3.488
    assert taker.barge.state is BargeState.PAUSED  # "Hold" calls to stop: not held as an "uh-huh"


class _NotAnAck(_Judge):
    def probability(self, audio: np.ndarray) -> float:
        return 0.05  # clearly no acknowledgement: the agent pauses at the first look


async def test_an_onset_is_looked_at_from_the_first_sign_of_its_voice() -> None:
    """The gate heard the "s" of "Sorry" plainly a frame before the VAD woke on the vowel: the
    first look reads from it and comes ``barge_in`` after it, a frame sooner than after the VAD's
    onset. The rules for a held acknowledgement still time it from the VAD's onset."""
    hearing = _Hearing(breath_at=0.0)
    taker = TurnTaker(EventBus(), hearing, judge=_NotAnAck())  # type: ignore[arg-type]
    taker.agent_speaking = True
    t = 3.52
    while taker.barge.state in (BargeState.QUIET, BargeState.ONSET):
        await taker.frame(HeardFrame(t, t + FRAME_S, True, heard_before=FRAME_S if t == 3.52 else 0.0))
        t += FRAME_S
    assert taker.barge.state is BargeState.PAUSED and taker.barge.onset == 3.52
    assert hearing.read_from == [3.488]
    assert round(taker.barge_ins[0].decided_at, 3) == 3.68  # 3.488 + 0.18, to the frame


class _Murmur(_Hearing):
    """An onset that sounds like a closed-mouth hum (its energy all at 200 Hz); Whisper, led to
    expect an acknowledgement, writes ``led``."""

    def __init__(self, led: str) -> None:
        super().__init__(breath_at=0.0)
        self.led = led
        self.prompts: list[str | None] = []

    def audio_since(self, t: float) -> np.ndarray:
        self.read_from.append(t)
        n = np.arange(int(0.3 * SAMPLE_RATE)) / SAMPLE_RATE
        return (0.1 * np.sin(2 * np.pi * 200 * n)).astype(np.float32)

    async def glance(self, audio: np.ndarray, prompt: str | None = None) -> str:
        self.prompts.append(prompt)
        return self.led if prompt else "You"


class _Unsure(_Judge):
    def probability(self, audio: np.ndarray) -> float:
        return 0.5  # between the head's bars: it cannot tell


async def _look_at_murmur(led: str) -> tuple[TurnTaker, _Murmur]:
    hearing = _Murmur(led)
    taker = TurnTaker(EventBus(), hearing, judge=_Unsure())  # type: ignore[arg-type]
    taker.agent_speaking = True
    t = 3.52
    while taker.barge.state in (BargeState.QUIET, BargeState.ONSET):
        await taker.frame(HeardFrame(t, t + FRAME_S, True))
        t += FRAME_S
    return taker, hearing


async def test_a_murmur_whisper_reads_as_words_pauses_the_agent() -> None:
    """Piper's "Can you say that again?" opens on a murmur the head is unsure of; the words,
    read with Whisper expecting an acknowledgement, are no hum: the agent pauses at once."""
    taker, hearing = await _look_at_murmur("Um,")
    assert hearing.prompts and hearing.prompts[-1]  # read as an acknowledgement would be
    assert taker.barge.state is BargeState.PAUSED


async def test_a_murmur_whisper_reads_as_a_hum_is_held() -> None:
    taker, _ = await _look_at_murmur("Mm-hmm.")
    assert taker.barge.state is BargeState.HELD  # the agent talks on over "mm-hm"
