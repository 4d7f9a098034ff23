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
