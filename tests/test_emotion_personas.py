"""Persona differences are measurable: one scripted conversation, two contrasting personas."""

import numpy as np
import pytest

from persona.config import get_persona
from persona.emotion import LABELS

pytestmark = pytest.mark.slow

SCRIPT = [
    (0.0, "Hi, how are you today?"),
    (20.0, "I failed my exam again and I feel completely useless."),
    (40.0, "Everything is going wrong, I am scared I will be kicked out of school."),
]
RECOVERY_AT = 160.0  # two minutes of silence after the last message


@pytest.fixture(scope="module")
def encoder():
    from persona.context_encoder import ContextEncoder

    return ContextEncoder()


@pytest.fixture(scope="module")
def head():
    from persona.transition import TransitionHead

    return TransitionHead()


def _persona(n: float):
    base = get_persona("tutor")
    traits = base.traits.model_copy(update={"N": n})
    # same baseline mood for both, so only the trait differs
    return base.model_copy(update={"traits": traits, "name": f"n{n}"})


def _trajectory(n, encoder, head):
    from persona.transition import EmotionEngine

    engine = EmotionEngine(_persona(n), encoder=encoder, head=head)
    prev, states = "", []
    for t, text in SCRIPT:
        states.append(engine.respond(text, None, agent_prev_text=prev, now=t))
        prev = "I see."
    recovered = engine.decay(RECOVERY_AT)
    return engine, states, recovered


def test_high_neuroticism_reacts_more_negatively_and_recovers_slower(encoder, head):
    calm_engine, calm, calm_rec = _trajectory(0.1, encoder, head)
    anxious_engine, anxious, anxious_rec = _trajectory(0.9, encoder, head)
    for a, c in zip(anxious[1:], calm[1:]):  # after each negative message
        assert a.vad[0] < c.vad[0], (a, c)  # lower valence
        assert a.label in LABELS
    # more negative affect: the high-N persona ends the bad news further into unpleasantness
    # (arousal rises through contagion, tested in test_emotion_core; the learned transition may
    # then name sadness, whose prototype is low-arousal, so arousal is not asserted here)
    assert anxious[-1].vad[0] < calm[-1].vad[0] - 0.1
    assert anxious[1].vad[1] > calm[1].vad[1]  # the first piece of bad news: more aroused
    base = np.asarray(calm_engine.dyn.baseline)
    assert np.allclose(base, anxious_engine.dyn.baseline)
    # slower recovery: still further from the (shared) baseline two minutes later
    assert (np.linalg.norm(np.asarray(anxious_rec.vad) - base)
            > np.linalg.norm(np.asarray(calm_rec.vad) - base))
    assert anxious_engine.dyn.emotion_half_life > calm_engine.dyn.emotion_half_life


def test_engine_state_moves_and_labels_match_vad_prototype_side(encoder, head):
    from persona.emotion import PROTOTYPES
    from persona.transition import EmotionEngine

    engine = EmotionEngine(get_persona("worrier"), encoder=encoder, head=head)
    start = engine.state
    e = engine.respond("You are a terrible artist and everyone laughs at you.", None, now=1.0)
    assert e != start
    # the label names the change from the persona's resting point: the VAD moved toward its
    # prototype's direction (a neutral label: hardly moved)
    rel = np.asarray(e.vad) - np.asarray(engine.dyn.baseline)
    proto = np.asarray(PROTOTYPES[e.label])
    if e.label == "neutral":
        assert np.linalg.norm(rel) < 0.5
    else:
        assert rel @ proto > 0.0, (e, rel)
