"""MiniLM as published (meaning) and tuned for affect (the shipped LoRA delta), both offline."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

TEXTS = ["I failed my exam again, I feel useless.", "I got the job, I'm so happy!", "The bus leaves at nine."]


def test_the_affect_encoder_is_minilm_with_the_delta_added():
    from perception.embeddings import DIM, affect_model_name, embed, embed_affect

    base, tuned = embed(TEXTS), embed_affect(TEXTS)
    assert base.shape == tuned.shape == (3, DIM)
    assert np.allclose(np.linalg.norm(tuned, axis=1), 1.0, atol=1e-5)
    cos = (base * tuned).sum(1)
    assert np.all(cos < 0.9999) and np.all(cos > 0.3), cos  # changed, and still the same model
    assert "affect LoRA" in affect_model_name()


def test_the_affect_encoder_reads_the_utterances_emotion():
    from perception.embeddings import embed_affect
    from persona.context_encoder import ContextEncoder
    from persona.emotion import LABELS

    probs = ContextEncoder().emotions(embed_affect(TEXTS))
    assert LABELS[int(np.argmax(probs[1]))] == "joy"
    assert probs[0, LABELS.index("sadness")] > probs[1, LABELS.index("sadness")]
