"""How loud can the agent's echo be, band by band? A test for a voice over an echo the canceller
has not learnt yet.

Until the echo gate's adaptive filter has learnt the room (2-3 s into the agent's first reply),
what it cancels says little, and a broadband level test only hears a user well above the echo.
But two voices rarely fill the same bands at the same moment: while the agent says "sugar", the
user's "wait" puts energy where the agent's sound (and so its echo) has next to none. This bound
learns, per band, the most the microphone heard for what was played there (the room's gain,
quickly learnt: a ratio of powers, not a filter), and reports the share of a frame's energy that
stands over the loudest echo that what was just played could make, reverberation included.
"""

from __future__ import annotations

import numpy as np

from perception.audio_source import FRAME, SAMPLE_RATE

# bands: the lows, then 22 about a third of an octave wide up to the 8 kHz Nyquist
_EDGES = np.concatenate([[0.0, 150.0], np.geomspace(250.0, 7900.0, 22)])
_BAND = np.digitize(np.fft.rfftfreq(FRAME, 1.0 / SAMPLE_RATE), _EDGES) - 1
BANDS = int(_BAND.max()) + 1
_SUM = (_BAND[:, None] == np.arange(BANDS)).astype(np.float64)  # bins -> bands
_WINDOW = np.hanning(FRAME)


def band_power(frames: np.ndarray) -> np.ndarray:
    """Power per band of each ``FRAME``-sample row (``[..., BANDS]``)."""
    power = np.abs(np.fft.rfft(np.asarray(frames, np.float64) * _WINDOW, axis=-1)) ** 2
    return power @ _SUM


class EchoBound:
    """The loudest echo, per band, of what was just played (see the module docstring).

    ``over`` times the learnt gain is the bound (a margin for what a gain learnt over a second or
    two has not met yet); a band is trusted once it has been heard ``trust_after`` frames with
    something playing in it. ``decay``: the learnt gains fade (per frame) so that the bound
    follows a room that gets quieter."""

    def __init__(self, *, over: float = 2.0, trust_after: int = 10, decay: float = 0.995,
                 voice_share: float = 0.1, voice_over_noise: float = 10.0) -> None:
        self.over = over
        self.trust_after = trust_after
        self.decay = decay
        self.voice_share = voice_share  # share of the frame's energy over the bound that is a voice
        self.voice_over_noise = voice_over_noise  # ... and how far that energy stands over the noise
        self.gain = np.zeros(BANDS)
        self.heard = np.zeros(BANDS, np.int64)

    def reset(self) -> None:
        self.gain[:] = 0.0
        self.heard[:] = 0

    def unexplained(self, mic: np.ndarray, played: np.ndarray, noise: np.ndarray) -> float:
        """The share of ``mic``'s energy (one frame) that no echo of ``played`` could make, and
        learn from the frame when that share says it is the echo alone.

        ``played``: rows of what was played over the echo's delay and the room's tail (the
        frame's own span at the tracked delay, then earlier in half frames); ``noise``: the
        room's noise per band. A band where something was played but whose gain is not trusted
        yet is given the benefit of the doubt (all echo); one where nothing was played, none."""
        m = band_power(mic)
        r = band_power(played).max(axis=0)
        active = r > 1e-3 * max(float(r.max()), 1e-20)
        trusted = self.heard >= self.trust_after
        bound = np.where(trusted, self.over * self.gain * r, np.inf)
        bound = np.where(active, bound, 0.0) + 3.0 * noise
        excess = np.maximum(m - bound, 0.0)
        total = float(m.sum()) + 1e-20
        share = float(excess.sum()) / total
        voice = share > self.voice_share and float(excess.sum()) > self.voice_over_noise * float(noise.sum())
        if not voice:
            ratio = np.maximum(m - noise, 0.0) / np.maximum(r, 1e-20)
            self.gain = np.where(active, np.maximum(self.gain * self.decay, ratio), self.gain * self.decay)
            self.heard += active & (ratio > 0)
            return 0.0
        return share
