"""The dialogue context as the transition head reads it, the same at training and at run time.

PELD's windows are (agent's utterance, user's utterance, agent's response): the context is the
first two. Each is embedded with MiniLM (``perception.embeddings``) and read by the EmoBank
text-affect head, which gives the user's perceived VAD from words alone. At run time a fused
estimate (face, voice, text) can stand in for the user's text VAD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perception.embeddings import embed, embed_cached
from perception.text_affect import TextAffect


@dataclass(frozen=True, slots=True)
class Context:
    """A batch of contexts: ``agent``/``user`` embeddings (N, 384), their text VAD (N, 3)."""

    agent: np.ndarray
    user: np.ndarray
    agent_vad: np.ndarray
    user_vad: np.ndarray

    def __len__(self) -> int:
        return len(self.user)


class ContextEncoder:
    def __init__(self, text_affect: TextAffect | None = None) -> None:
        self.text_affect = text_affect or TextAffect()

    def encode(self, agent_texts: Sequence[str], user_texts: Sequence[str], cached: bool = False) -> Context:
        """Blocking (runs MiniLM). ``cached`` memoises data-set embeddings on disk."""
        if len(agent_texts) != len(user_texts):
            raise ValueError("one agent utterance per user utterance")
        fn = embed_cached if cached else embed
        both = fn([*agent_texts, *user_texts])
        return self.from_embeddings(agent_texts, both[:len(agent_texts)], both[len(agent_texts):])

    def from_embeddings(self, agent_texts: Sequence[str], agent: np.ndarray, user: np.ndarray) -> Context:
        """The context from embeddings already made (MiniLM runs once per turn in a session)."""
        agent, user = agent.copy(), user.copy()
        agent_vad, _ = self.text_affect.predict(agent)
        user_vad, _ = self.text_affect.predict(user)
        # an empty agent utterance (the first turn) says nothing: zero vector, neutral VAD
        empty = np.array([not t.strip() for t in agent_texts], dtype=bool)
        agent[empty] = 0.0
        agent_vad[empty] = 0.0
        return Context(agent, user, agent_vad.astype(np.float32), user_vad.astype(np.float32))
