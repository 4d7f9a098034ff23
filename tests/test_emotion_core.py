"""Temperament, mood decay and contagion: the formulas and the direction of each trait's effect."""

import numpy as np
import pytest

from persona.config import get_persona
from persona.mood import Mood, MoodDynamics, contagion, relax
from persona.temperament import centred, temperament


def test_temperament_matches_mehrabian_with_centred_traits():
    O, C, E, A, N = 0.8, 0.85, 0.6, 0.85, 0.2
    o, c, e, a, s = 2 * O - 1, 2 * C - 1, 2 * E - 1, 2 * A - 1, -(2 * N - 1)
    expected = (0.21 * e + 0.59 * a + 0.19 * s, 0.15 * o + 0.30 * a - 0.57 * s,
                0.25 * o + 0.17 * c + 0.60 * e - 0.32 * a)
    assert np.allclose(temperament((O, C, E, A, N)), expected, atol=1e-6)
    assert np.allclose(centred([0.5] * 5), 0.0)
    batch = temperament(np.array([[O, C, E, A, N], [0.5] * 5]))
    assert batch.shape == (2, 3) and np.allclose(batch[1], 0.0)


def test_neuroticism_lowers_valence_and_raises_arousal_of_temperament():
    low, high = temperament((0.5, 0.5, 0.5, 0.5, 0.1)), temperament((0.5, 0.5, 0.5, 0.5, 0.9))
    assert high[0] < low[0] and high[1] > low[1]


def test_relax_halves_the_distance_every_half_life():
    v = relax(np.array([1.0, 0.0, -1.0]), np.zeros(3), dt=10.0, half_life=10.0)
    assert np.allclose(v, [0.5, 0.0, -0.5])
    assert np.allclose(relax(np.ones(3), np.zeros(3), 0.0, 5.0), 1.0)


def _dyn(**traits):
    base = get_persona("tutor")
    return MoodDynamics.from_persona(base.model_copy(update={"traits": base.traits.model_copy(update=traits)}))


def test_half_life_grows_with_neuroticism_and_shrinks_with_extraversion_and_conscientiousness():
    assert _dyn(N=0.9).emotion_half_life > _dyn(N=0.1).emotion_half_life
    assert _dyn(E=0.9).emotion_half_life < _dyn(E=0.1).emotion_half_life
    assert _dyn(C=0.9).emotion_half_life < _dyn(C=0.1).emotion_half_life
    assert _dyn(N=0.5).mood_half_life > _dyn(N=0.5).emotion_half_life


def test_contagion_scales_with_agreeableness_and_neuroticism():
    pre, sad = np.array([0.3, 0.0, 0.2]), np.array([-0.6, -0.2, -0.3])
    kind, cold = contagion(pre, sad, 1.0, _dyn(A=0.95)), contagion(pre, sad, 1.0, _dyn(A=0.05))
    assert kind[0] < cold[0]  # the agreeable persona catches more of the user's sadness
    anx, stable = contagion(pre, sad, 1.0, _dyn(N=0.9)), contagion(pre, sad, 1.0, _dyn(N=0.1))
    assert anx[0] < stable[0] and anx[1] > stable[1]
    assert np.allclose(contagion(pre, sad, 0.0, _dyn()), pre)  # no evidence, no change


def test_hostility_is_met_by_dominance_according_to_agreeableness():
    pre, insult = np.array([0.3, 0.1, 0.2]), np.array([-0.5, 0.5, 0.3])
    kind, cold = (contagion(pre, insult, 0.6, _dyn(A=a), hostility=0.8) for a in (0.9, 0.1))
    assert cold[2] > pre[2] > kind[2]  # the disagreeable stand their ground, the agreeable yield
    assert kind[1] < cold[1]  # ... hurt rather than roused
    calm = contagion(pre, insult, 0.6, _dyn(A=0.9), hostility=0.0)
    assert kind[2] < calm[2]


def test_baseline_from_yaml_or_from_temperament():
    tutor = get_persona("tutor")
    assert MoodDynamics.from_persona(tutor).baseline == tutor.baseline_mood.as_tuple()
    data = tutor.model_dump(exclude={"baseline_mood"})
    bare = type(tutor).model_validate(data)
    assert np.allclose(MoodDynamics.from_persona(bare).baseline, temperament(tutor.traits.as_tuple()), atol=1e-6)


def test_mood_drifts_back_and_absorbs():
    mood = Mood(_dyn())
    base = np.asarray(mood.dyn.baseline)
    mood.absorb(np.array([-1.0, 1.0, -1.0]))
    moved = np.linalg.norm(mood.vad - base)
    assert moved > 0.1
    mood.decay(mood.dyn.mood_half_life)
    assert np.linalg.norm(mood.vad - base) == pytest.approx(moved / 2, rel=1e-6)


def test_engine_decays_toward_baseline_on_the_injected_clock():
    from persona.emotion import Emotion
    from persona.transition import EmotionEngine

    engine = EmotionEngine(get_persona("worrier"), encoder=object(), head=object())  # decay needs no model
    base = np.asarray(engine.dyn.baseline)
    assert np.allclose(engine.state.vad, base)
    engine.decay(0.0)
    engine.state = Emotion.from_vad((0.8, 0.5, 0.4))
    far = np.linalg.norm(np.asarray(engine.state.vad) - base)
    later = engine.decay(engine.dyn.emotion_half_life)
    near = np.linalg.norm(np.asarray(later.vad) - base)
    assert near == pytest.approx(far / 2, rel=0.02)  # the mood rests at the baseline
    assert engine.decay(engine.dyn.emotion_half_life - 5.0) == later  # time never runs backwards
