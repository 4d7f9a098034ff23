"""Pitch level and range changes that keep every sample where it was (for voices, like Piper's,
that have no pitch control of their own).

Praat's PSOLA resynthesis (through praat-parselmouth) moves F0 without touching duration, so the
phoneme timings the synthesizer reported stay true to the audio that is played.
"""

from __future__ import annotations

import numpy as np

PITCH_FLOOR_HZ = 60.0
PITCH_CEILING_HZ = 600.0
TIME_STEP_S = 0.01


def f0_contour(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Voiced F0 values (Hz) every 10 ms; unvoiced frames left out."""
    import parselmouth

    sound = parselmouth.Sound(np.asarray(audio, dtype=np.float64), sampling_frequency=sample_rate)
    f0 = sound.to_pitch(TIME_STEP_S, PITCH_FLOOR_HZ, PITCH_CEILING_HZ).selected_array["frequency"]
    return f0[f0 > 0]


def shift_pitch(audio: np.ndarray, sample_rate: int, semitones: float = 0.0,
                range_scale: float = 1.0) -> np.ndarray:
    """``audio`` with F0 raised by ``semitones`` and its excursions around the median F0 scaled
    by ``range_scale`` (in the log domain, as listeners hear pitch); same length, float32."""
    if abs(semitones) < 1e-3 and abs(range_scale - 1.0) < 1e-3:
        return audio
    import parselmouth
    from parselmouth.praat import call

    sound = parselmouth.Sound(np.asarray(audio, dtype=np.float64), sampling_frequency=sample_rate)
    f0 = sound.to_pitch(TIME_STEP_S, PITCH_FLOOR_HZ, PITCH_CEILING_HZ).selected_array["frequency"]
    voiced = f0[f0 > 0]
    if len(voiced) < 3:  # nothing voiced to move (a click, a whisper)
        return audio
    median = float(np.median(voiced))
    factor = 2.0 ** (semitones / 12.0)
    manipulation = call(sound, "To Manipulation", TIME_STEP_S, PITCH_FLOOR_HZ, PITCH_CEILING_HZ)
    tier = call(manipulation, "Extract pitch tier")
    call(tier, "Formula...", f"{factor * median!r} * (self / {median!r}) ^ {float(range_scale)!r}")
    call([tier, manipulation], "Replace pitch tier")
    out = call(manipulation, "Get resynthesis (overlap-add)").values[0]
    n = len(audio)
    if len(out) < n:  # PSOLA keeps the length; guard the last frame's rounding anyway
        out = np.pad(out, (0, n - len(out)))
    return np.asarray(out[:n], dtype=np.float32)
