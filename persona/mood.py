"""How a persona's feelings move between and within turns: decay, mood, contagion.

Two time scales, as in ALMA (Gebhard 2005): the emotion relaxes toward the mood within seconds,
the mood toward the persona's baseline within minutes. Both are exponential with a
persona-dependent half-life. The constants are design choices, written so the direction of
each trait's effect follows the psychology:

- neuroticism slows recovery (negative affect lingers in neurotic people: Suls & Martin 2005),
  extraversion and conscientiousness speed it (better regulation);
- emotional contagion from the user (Hatfield et al. 1993) grows with agreeableness (empathy),
  and neuroticism adds a negativity bias: negative user affect pulls valence down harder and
  raises arousal (threat reactivity: Larsen & Ketelaar 1991).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from agent.core.affect import vad3
from persona.config import Persona
from persona.temperament import temperament

EMOTION_HALF_LIFE = 30.0  # seconds, for a persona with every trait at 0.5
MOOD_PER_EMOTION = 10.0  # the mood's half-life is this many times the emotion's
MOOD_UPTAKE = 0.25  # how far the mood moves toward each new response emotion


@dataclass(frozen=True, slots=True)
class MoodDynamics:
    baseline: tuple[float, float, float]
    emotion_half_life: float
    mood_half_life: float
    contagion: tuple[float, float, float]  # per-axis gain toward the user's affect
    negativity: float  # extra valence gain and arousal rise when the user is negative

    @classmethod
    def from_persona(cls, persona: Persona) -> MoodDynamics:
        O, C, E, A, N = persona.traits.as_tuple()
        if "baseline_mood" in persona.model_fields_set:
            baseline = persona.baseline_mood.as_tuple()
        else:
            baseline = vad3(np.clip(temperament(persona.traits.as_tuple()), -1, 1))
        half = EMOTION_HALF_LIFE * math.exp(1.2 * (N - 0.5) - 0.6 * (E - 0.5) - 0.6 * (C - 0.5))
        return cls(baseline=baseline,
                   emotion_half_life=half,
                   mood_half_life=half * MOOD_PER_EMOTION,
                   contagion=(0.10 + 0.35 * A, 0.10 + 0.20 * N, 0.05 + 0.10 * A),
                   negativity=N)


def relax(vad: np.ndarray, target: np.ndarray, dt: float, half_life: float) -> np.ndarray:
    """``vad`` after ``dt`` seconds of exponential return toward ``target``."""
    k = 0.5 ** (max(0.0, dt) / half_life)
    return target + (vad - target) * k


def contagion(vad: np.ndarray, user_vad: np.ndarray, confidence: float, dyn: MoodDynamics) -> np.ndarray:
    """``vad`` moved toward the user's affect, as far as this persona catches it."""
    c = float(np.clip(confidence, 0.0, 1.0))
    gain = np.asarray(dyn.contagion, dtype=np.float64)
    negative = max(0.0, -float(user_vad[0]))
    if user_vad[0] < vad[0]:
        gain = gain + np.array([0.30 * dyn.negativity, 0.0, 0.0])
    out = vad + c * gain * (user_vad - vad)
    out[1] += c * 0.6 * dyn.negativity * negative  # worry: negative news raises arousal in high N
    out[2] -= c * 0.3 * dyn.negativity * negative  # ... and lowers the sense of control
    return np.clip(out, -1.0, 1.0)


class Mood:
    """The persona's medium-term affect: drifts to the baseline, absorbs each response emotion."""

    def __init__(self, dyn: MoodDynamics) -> None:
        self.dyn = dyn
        self.vad = np.asarray(dyn.baseline, dtype=np.float64)

    def decay(self, dt: float) -> np.ndarray:
        self.vad = relax(self.vad, np.asarray(self.dyn.baseline), dt, self.dyn.mood_half_life)
        return self.vad

    def absorb(self, emotion_vad: np.ndarray) -> np.ndarray:
        self.vad = np.clip(self.vad + MOOD_UPTAKE * (np.asarray(emotion_vad) - self.vad), -1.0, 1.0)
        return self.vad
