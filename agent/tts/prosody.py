"""Emotion → prosody, after the speech-emotion literature (Juslin & Laukka 2003).

Higher arousal: faster, higher, wider pitch range, louder, shorter pauses (anger, joy, fear).
Low valence with low arousal (sadness): slower, lower, narrower, softer, longer pauses.
Dominance lowers pitch a little and raises loudness (a dominant voice is lower and fuller).
The persona's voice settings are the baseline the emotion moves away from; the coefficients are
design choices sized so that a full-intensity prototype moves each quantity about as far as the
acted-speech studies report (rate ±10–20 %, F0 ±2–4 semitones, range ±30–40 %).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.core.stages import Prosody

if TYPE_CHECKING:
    from persona.config import Voice
    from persona.emotion import Emotion

# per unit of arousal (the axis prosody carries best)
RATE_PER_AROUSAL = 0.35  # log2 of the rate factor
PITCH_PER_AROUSAL = 5.0  # semitones
RANGE_PER_AROUSAL = 0.8  # log2 of the range factor
VOLUME_PER_AROUSAL = 0.5  # log2 of the gain
PAUSE_PER_AROUSAL = -0.5  # log2 of the pause factor
# per unit of "low valence and low arousal" (the product of the two negative parts)
SAD_RATE = 0.5
SAD_PITCH = 4.0
SAD_RANGE = 0.5
SAD_VOLUME = 0.4
SAD_PAUSE = 1.5
# valence and dominance
PITCH_PER_VALENCE = 1.0  # semitones per unit of positive valence (a smiling voice is higher)
PITCH_PER_DOMINANCE = -0.8  # semitones
VOLUME_PER_DOMINANCE = 0.2  # log2 of the gain


def prosody_for(emotion: Emotion, voice: Voice) -> Prosody:
    """The prosody that expresses ``emotion`` in ``voice`` (its settings are the baseline)."""
    v, a, d = emotion.vad
    sad = max(0.0, -v) * max(0.0, -a)
    rate = voice.rate * 2.0 ** (RATE_PER_AROUSAL * a) * (1.0 - SAD_RATE * sad)
    pitch = (voice.pitch + PITCH_PER_AROUSAL * a + PITCH_PER_VALENCE * max(0.0, v)
             + PITCH_PER_DOMINANCE * d - SAD_PITCH * sad)
    pitch_range = voice.pitch_range * 2.0 ** (RANGE_PER_AROUSAL * a) * (1.0 - SAD_RANGE * sad)
    volume = (voice.volume * 2.0 ** (VOLUME_PER_AROUSAL * a + VOLUME_PER_DOMINANCE * d)
              * (1.0 - SAD_VOLUME * sad))
    pause = 2.0 ** (PAUSE_PER_AROUSAL * a) * (1.0 + SAD_PAUSE * sad)
    return Prosody(rate=_clip(rate, 0.5, 2.0), pitch_semitones=_clip(pitch, -12.0, 12.0),
                   pitch_range=_clip(pitch_range, 0.0, 3.0), volume=_clip(volume, 0.0, 2.0),
                   pause_scale=_clip(pause, 0.3, 3.0))


def _clip(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, float(x)))
