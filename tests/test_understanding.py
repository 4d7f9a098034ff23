"""One user turn understood: the words' affect fused with face and voice, then the emotion."""

import numpy as np

from agent.core.affect import AffectEstimate
from agent.testing import FakeEngine, fake_understanding


def test_the_words_are_fused_and_the_engine_reads_the_fused_affect():
    engine = FakeEngine("sadness", 0.4)
    u = fake_understanding(engine)
    u.fuse(AffectEstimate("face", (-0.6, 0.0, 0.0), 0.8, 10.0, "sadness", "the user frowns"))
    reading = u.read("I failed again", "Let's try another one.", 10.5)
    assert reading.text.source == "text" and reading.text.vad[0] == -0.5
    assert set(reading.user.sources) == {"face", "text"} and reading.user.vad[0] < -0.4
    text, given, now = engine.calls[0]
    assert (text, now) == ("I failed again", 10.5)
    assert given.source == "fused" and np.allclose(given.vad, reading.user.vad)
    assert reading.emotion.label == "sadness"


def test_minilm_runs_once_per_turn_for_both_heads():
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return np.zeros((len(texts), 384), np.float32)

    from agent.testing import _FakeTextAffect
    from agent.understanding import Understanding
    from perception.fusion import AffectFusion

    u = Understanding(FakeEngine(), AffectFusion(), _FakeTextAffect(), embed=embed)
    u.read("Hello", "", 1.0)
    u.read("How are you?", "Hi there.", 2.0)
    assert calls == [["", "Hello"], ["Hi there.", "How are you?"]]
