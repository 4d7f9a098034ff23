"""Is the onset of an utterance a closed-mouth hum ("mm-hm", "mmm")?

Whisper's first look at 200-300 ms of a hum writes whatever the murmur resembles ("and",
"amendment", "a minute"), so words alone cannot tell a hum from a turn that begins. A nasal
murmur is easy to hear, though: the mouth is closed, so nearly all the energy sits in the
nasal formant below 400 Hz and the spectral centroid stays low, while words — even ones that
open on a nasal or a glide, like "no" or "wait" — reach the open vowel's formants within the
first 200 ms. Measured on espeak-ng and Piper voices over the agent's echo (centroid of a
hummed "mm-hm" 250-350 Hz with 85-95 % of the energy below 400 Hz; of turn openings at least
460 Hz and at most 55 %).
"""

from __future__ import annotations

import numpy as np

from perception.audio_source import FRAME, SAMPLE_RATE

LOW_HZ = 400.0


def hum_like(audio: np.ndarray, *, low_share: float = 0.7, max_centroid: float = 450.0) -> bool:
    """True when the loud frames of ``audio`` (16 kHz) keep their energy below ``LOW_HZ``."""
    n = len(audio) // FRAME
    if n == 0:
        return False
    frames = np.asarray(audio[:n * FRAME], np.float64).reshape(n, FRAME) * np.hanning(FRAME)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(FRAME, 1.0 / SAMPLE_RATE)
    energy = power.sum(axis=1) + 1e-20
    loud = energy > 0.1 * energy.max()
    low = power[:, freqs < LOW_HZ].sum(axis=1) / energy
    centroid = (power * freqs).sum(axis=1) / energy
    return bool(np.median(low[loud]) >= low_share and np.median(centroid[loud]) <= max_centroid)
