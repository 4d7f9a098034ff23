"""The dialogue context as the transition head reads it, the same at training and at run time.

PELD's windows are (agent's utterance, user's utterance, agent's response): the context is the
first two. Each is embedded with MiniLM tuned for affect (``perception.embeddings.embed_affect``)
and read twice: by the EmoBank text-affect head (VAD from words alone) and by the utterance
emotion head tuned with the encoder on PELD's per-utterance labels (seven class probabilities).
At run time a fused estimate (face, voice, text) can stand in for the user's text VAD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perception.embeddings import embed_affect, embed_cached
from perception.text_affect import TextAffect
from persona.heads import load


@dataclass(frozen=True, slots=True)
class Context:
    """A batch of contexts: ``agent``/``user`` embeddings (N, 384), their text VAD (N, 3) and
    their utterance-emotion probabilities (N, 7, ``persona.emotion.LABELS`` order)."""

    agent: np.ndarray
    user: np.ndarray
    agent_vad: np.ndarray
    user_vad: np.ndarray
    agent_emo: np.ndarray
    user_emo: np.ndarray

    def with_user_vad(self, vad: np.ndarray) -> Context:
        return Context(self.agent, self.user, self.agent_vad, np.asarray(vad, np.float32).reshape(-1, 3),
                       self.agent_emo, self.user_emo)

    def __len__(self) -> int:
        return len(self.user)


class ContextEncoder:
    def __init__(self, text_affect: TextAffect | None = None) -> None:
        self.text_affect = text_affect or TextAffect()
        z = load("context_encoder")
        self._emo_w, self._emo_b = z["emo_w"], z["emo_b"]

    def emotions(self, emb: np.ndarray) -> np.ndarray:
        """(N, 7) probabilities of each utterance's own emotion, from its embeddings (N, 384)."""
        logits = emb @ self._emo_w + self._emo_b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    def encode(self, agent_texts: Sequence[str], user_texts: Sequence[str], cached: bool = False) -> Context:
        """Blocking (runs MiniLM). ``cached`` memoises data-set embeddings on disk."""
        if len(agent_texts) != len(user_texts):
            raise ValueError("one agent utterance per user utterance")
        fn = embed_cached if cached else embed_affect
        both = fn([*agent_texts, *user_texts])
        return self.from_embeddings(agent_texts, both[:len(agent_texts)], both[len(agent_texts):])

    def from_embeddings(self, agent_texts: Sequence[str], agent: np.ndarray, user: np.ndarray) -> Context:
        """The context from embeddings already made (MiniLM runs once per turn in a session)."""
        agent, user = agent.copy(), user.copy()
        agent_vad, _ = self.text_affect.predict(agent)
        user_vad, _ = self.text_affect.predict(user)
        agent_emo, user_emo = self.emotions(agent), self.emotions(user)
        # an empty agent utterance (the first turn) says nothing: zero vector, neutral VAD,
        # an even spread over the emotions
        empty = np.array([not t.strip() for t in agent_texts], dtype=bool)
        agent[empty] = 0.0
        agent_vad[empty] = 0.0
        agent_emo[empty] = 1.0 / 7.0
        return Context(agent, user, agent_vad.astype(np.float32), user_vad.astype(np.float32),
                       agent_emo, user_emo)
