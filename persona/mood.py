"""How a persona's feelings move between and within turns: decay, mood, contagion.

Two time scales, as in ALMA (Gebhard 2005): the emotion relaxes toward the mood within seconds,
the mood toward the persona's baseline within minutes. Both are exponential with a
persona-dependent half-life. The constants are design choices, written so the direction of
each trait's effect follows the psychology:

- neuroticism slows recovery (negative affect lingers in neurotic people: Suls & Martin 2005),
  extraversion and conscientiousness speed it (better regulation);
- emotional contagion from the user (Hatfield et al. 1993) grows with agreeableness (empathy):
  arousal and dominance move toward the user's, valence moves with the user's fortunes (OCC's
  happy-for and sorry-for: Ortony, Clore & Collins 1988); neuroticism adds a negativity bias:
  negative user affect pulls valence down harder and raises arousal, and a user who is afraid
  shakes a neurotic persona more than a stable one (threat reactivity: Larsen & Ketelaar 1991);
- hostility toward the agent (the user's words read as angry or contemptuous) is met by
  dominance on the control axis according to agreeableness: the agreeable yield and are hurt
  rather than angry (Meier & Robinson 2004), the disagreeable stand their ground (interpersonal
  complementarity and its breach: Sadler & Woody 2003). Any negative move by the user (a
  challenge, a complaint) does the same, more weakly.
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
FORTUNE = 2.5  # valence felt with the user's fortunes, per unit of valence contagion gain


@dataclass(frozen=True, slots=True)
class MoodDynamics:
    baseline: tuple[float, float, float]
    emotion_half_life: float
    mood_half_life: float
    contagion: tuple[float, float, float]  # per-axis gain toward the user's affect
    negativity: float  # extra valence gain and arousal rise when the user is negative
    assertive: float  # 0.5 - A: how far hostility is met with dominance (< 0: yielding)

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
                   negativity=N,
                   assertive=0.5 - A)


def relax(vad: np.ndarray, target: np.ndarray, dt: float, half_life: float) -> np.ndarray:
    """``vad`` after ``dt`` seconds of exponential return toward ``target``."""
    k = 0.5 ** (max(0.0, dt) / half_life)
    return target + (vad - target) * k


def contagion(vad: np.ndarray, user_vad: np.ndarray, confidence: float, dyn: MoodDynamics,
              hostility: float = 0.0, threat: float = 0.0) -> np.ndarray:
    """``vad`` moved toward the user's affect, as far as this persona catches it; ``hostility``
    and ``threat`` in [0, 1]: how angry or contemptuous, and how afraid, the user's words read."""
    c = float(np.clip(confidence, 0.0, 1.0))
    gain = np.asarray(dyn.contagion, dtype=np.float64)
    negative = max(0.0, -float(user_vad[0]))
    out = vad + c * gain * (user_vad - vad)  # arousal and dominance approach the user's
    # valence: the user's fortunes are felt with them (OCC's "happy-for" and "sorry-for"), not
    # approached — good news lifts even a persona already in a better mood than the user
    fortune = FORTUNE * gain[0] + (0.30 * dyn.negativity if user_vad[0] < 0 else 0.0)
    out[0] = vad[0] + c * fortune * float(user_vad[0])
    out[2] += c * fortune * 0.6 * max(0.0, float(user_vad[0]))  # shared joy is confident, not startled
    # a threat to the user shakes the neurotic more (threat reactivity), the stable less
    shaken = float(np.clip(threat, 0.0, 1.0)) * (dyn.negativity - 0.5)
    out[0] -= 0.5 * shaken
    out[1] += 0.4 * shaken
    out[1] += c * 0.6 * dyn.negativity * negative  # worry: negative news raises arousal in high N
    out[2] -= c * 0.3 * dyn.negativity * negative  # ... and lowers the sense of control
    # met by dominance: the disagreeable (assertive > 0) rise, the agreeable yield
    out[2] += dyn.assertive * (0.8 * float(np.clip(hostility, 0.0, 1.0)) + 0.6 * c * negative)
    if hostility > 0.0 and dyn.assertive < 0.0:  # hurt, not angry: the agreeable do not retaliate
        out[0] -= 0.3 * hostility * -dyn.assertive
        out[1] -= 0.6 * hostility * -dyn.assertive
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
