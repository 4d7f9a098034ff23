"""Big Five → temperament in PAD/VAD space (Mehrabian 1996, as popularised by ALMA, Gebhard 2005).

Traits in [0, 1] are centred to [-1, 1] (t' = 2t − 1) and emotional stability is S = −N'.
The result is the persona's default mood: where it rests when nothing happens, and the
personality weighting that the emotion transition adapts (``persona.transition``).
"""

from __future__ import annotations

import numpy as np

# rows: V, A, D; columns: O', C', E', A', S (Mehrabian 1996)
MEHRABIAN = np.array([
    [0.00, 0.00, 0.21, 0.59, 0.19],
    [0.15, 0.00, 0.00, 0.30, -0.57],
    [0.25, 0.17, 0.60, -0.32, 0.00],
], dtype=np.float32)


def centred(traits: tuple[float, float, float, float, float] | np.ndarray) -> np.ndarray:
    """O', C', E', A', S for traits O C E A N in [0, 1] (last axis), S = −(2N − 1)."""
    t = 2.0 * np.asarray(traits, dtype=np.float32) - 1.0
    return np.concatenate([t[..., :4], -t[..., 4:5]], axis=-1)


def temperament(traits: tuple[float, float, float, float, float] | np.ndarray) -> np.ndarray:
    """The temperament VAD (3,) — or (N, 3) for a batch (N, 5) — of Big Five traits O C E A N."""
    return centred(traits) @ MEHRABIAN.T
