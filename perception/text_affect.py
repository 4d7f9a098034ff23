"""What the user's words say about their affect: VAD regressed from sentence embeddings (MiniLM
tuned for affect, ``perception.embeddings.embed_affect``).

The head is trained on EmoBank (Buechel & Hahn 2017, CC BY 4.0; ``scripts/train_emobank.py``),
whose ratings map to [-1, 1] with (x - 3) / 2. Readers rarely rate a sentence at the ends of the
scale, so predictions stay within about ±0.6: the cue words use thresholds on that scale.

Confidence is the product of two things we can know: how much text there is (one word says
little) and how much the ensemble members agree (model certainty), capped below 1 because even
a perfect regression of EmoBank correlates only ~0.69 with valence.
"""

from __future__ import annotations

import math

import numpy as np

from agent.core.affect import AffectEstimate, vad3
from perception.embeddings import embed_affect
from persona.emotion import nearest_label
from persona.heads import gelu, load

_CAP = 0.85  # the most a text estimate can be trusted (dev r of valence is about 0.69)


class TextAffect:
    """``estimate(text, t)`` → :class:`AffectEstimate` with ``source="text"``.

    Blocking (it embeds the text): run it in a worker thread inside a session.
    """

    def __init__(self) -> None:
        z = load("text_affect")
        self._w1, self._b1, self._w2, self._b2 = z["w1"], z["b1"], z["w2"], z["b2"]
        self._spread_ref = float(z["spread_ref"])
        self.dev_r = tuple(float(x) for x in z["dev_r"])

    def predict(self, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble mean VAD ``(N, 3)`` and mean member spread ``(N,)`` for embeddings ``(N, 384)``."""
        h = gelu(np.einsum("nd,kdh->knh", emb, self._w1) + self._b1[:, None, :])
        preds = np.einsum("knh,kho->kno", h, self._w2) + self._b2[:, None, :]
        return np.clip(preds.mean(0), -1.0, 1.0), preds.std(0).mean(1)

    def estimate(self, text: str, t: float) -> AffectEstimate:
        return self.estimate_embedded(text, embed_affect([text])[0], t)

    def estimate_embedded(self, text: str, emb: np.ndarray, t: float) -> AffectEstimate:
        """As :meth:`estimate`, for a caller that already has the text's embedding."""
        words = len(text.split())
        if words == 0:
            return AffectEstimate("text", (0.0, 0.0, 0.0), 0.0, t)
        mean, spread = self.predict(emb[None, :])
        vad = vad3(round(float(x), 4) for x in mean[0])
        amount = 1.0 - math.exp(-words / 5.0)
        certainty = min(1.0, 2.0 * self._spread_ref / (self._spread_ref + float(spread[0])))
        conf = round(_CAP * amount * certainty, 4)
        return AffectEstimate("text", vad, conf, t, label=nearest_label(vad), cues=describe(vad),
                              details={"words": words, "spread": round(float(spread[0]), 4)})


def describe(vad: tuple[float, float, float]) -> str:
    """The estimate in words for the LLM prompt ("words sound upset")."""
    v, a, d = vad
    if abs(v) < 0.06 and abs(a) < 0.06:
        return "words sound neutral"
    degree = "very " if abs(v) > 0.35 else "slightly " if abs(v) < 0.15 else ""
    if v <= -0.06:
        if a > 0.05:
            word = "angry" if d > 0.05 else "upset" if d > -0.08 else "anxious"
        else:
            word = "sad" if d < 0.0 else "discontent"
    elif v >= 0.06:
        word = "excited" if a > 0.1 else "cheerful" if a > 0.0 else "content"
    else:
        degree, word = "", "tense" if a > 0 else "calm"
    return f"words sound {degree}{word}"
