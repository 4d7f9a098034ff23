"""Text affect (EmoBank head over MiniLM): direction, confidence, cues."""

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ta():
    from perception.text_affect import TextAffect

    return TextAffect()


def test_negative_and_positive_sentences(ta):
    sad = ta.estimate("I failed my exam again, I feel useless", 1.0)
    happy = ta.estimate("This is the best day of my life, I am so happy!", 2.0)
    assert sad.source == "text" and sad.t == 1.0
    assert sad.vad[0] < -0.1 < 0.1 < happy.vad[0]
    assert "words sound" in sad.cues and "sad" in sad.cues or "upset" in sad.cues
    angry = ta.estimate("I am so angry at you, how dare you!", 0.0)
    assert angry.vad[1] > sad.vad[1]  # anger is more aroused


def test_confidence_from_length_and_empty_text(ta):
    assert ta.estimate("", 0.0).confidence == 0.0
    short = ta.estimate("sad", 0.0).confidence
    long = ta.estimate("I am sad because my best friend moved away and I miss her every day", 0.0).confidence
    assert 0.0 < short < long <= 0.85


def test_dev_correlation_is_shipped(ta):
    assert ta.dev_r[0] > 0.6  # valence Pearson r on EmoBank dev, recorded at training
