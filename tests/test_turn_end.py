"""Smart Turn v3 (the model pipecat-ai ships) on real speech: a question sounds finished, a
fragment that stops mid-sentence does not."""

import numpy as np
import pytest

from perception.turn_end import TurnEndModel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model() -> TurnEndModel:
    return TurnEndModel()


def test_a_question_sounds_finished_and_a_fragment_does_not(model):
    from agent.bench.speech import PiperLines

    piper = PiperLines()
    say = lambda text: np.pad(piper.say(text), (3200, 1024))  # noqa: E731  as the VAD cuts it
    assert model.probability(say("Can you help me with fractions?")) > 0.5
    assert model.probability(say("What is one half plus one quarter?")) > 0.5
    assert model.probability(say("So I was thinking that")) < 0.1
    assert model.probability(say("I wanted to ask you about the")) < 0.1


def test_more_than_eight_seconds_keeps_the_end_and_silence_is_no_turn(model):
    from agent.bench.speech import PiperLines

    fragment = PiperLines().say("I wanted to ask you about the")
    long = np.concatenate([np.zeros(16000 * 9, np.float32), fragment])
    assert model.probability(long) < 0.1  # the window is the last 8 s: the fragment's end
    assert 0.0 <= model.probability(np.zeros(1600, np.float32)) <= 1.0
