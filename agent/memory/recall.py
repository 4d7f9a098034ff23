"""Which memories a turn brings back: the few most relevant to the user's words.

A memory's score is its MiniLM cosine to the user's words plus a recency bonus that halves
every ``RECENCY_HALF_LIFE_DAYS``: relevance decides, recency breaks near-ties (of two notes
about exams, last week's before last year's). Memories below ``MIN_RELEVANCE`` never come back,
however recent; the best ones are taken while they fit ``BUDGET_TOKENS``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.memory.store import Fact, PastSession

# MiniLM cosine: below it a note is about something else ("What's the capital of Peru?" is at
# most 0.16 from any note about a user; "Do you know my name?" is 0.30 from "The user's name is Sam.")
MIN_RELEVANCE = 0.2
RECENCY_WEIGHT = 0.1
RECENCY_HALF_LIFE_DAYS = 30.0
MAX_MEMORIES = 4
BUDGET_TOKENS = 80  # of the per-turn note; about 4 characters a token for English
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Remembered:
    text: str  # as it goes into the prompt
    vector: np.ndarray
    t: float  # when it was last told (a fact) or the session ended (a summary)


def age(seconds: float) -> str:
    days = seconds / DAY
    if days < 1:
        return "today"
    if days < 2:
        return "yesterday"
    if days < 14:
        return f"{int(days)} days ago"
    if days < 60:
        return f"{int(days // 7)} weeks ago"
    return f"{int(days // 30)} months ago"


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


class RecallIndex:
    """The memories of earlier sessions (this session's own words are in the dialogue's history)."""

    def __init__(self, items: Sequence[Remembered]) -> None:
        self.items = list(items)
        self.vectors = np.stack([m.vector for m in items]) if items else np.zeros((0, 0), np.float32)

    @classmethod
    def of(cls, facts: Sequence[Fact], sessions: Sequence[PastSession], now: float) -> RecallIndex:
        items = [Remembered(f"{f.text.rstrip('.')} (said {age(now - f.seen)})", f.embedding, f.seen) for f in facts]
        items += [Remembered(f"a conversation {age(now - (s.ended or s.started))}: {s.summary.rstrip('.')}",
                             s.summary_embedding, s.ended or s.started)
                  for s in sessions if s.summary and s.summary_embedding is not None]
        return cls(items)

    def __len__(self) -> int:
        return len(self.items)

    def scores(self, query: np.ndarray, now: float) -> np.ndarray:
        if not self.items:
            return np.zeros(0)
        ages = np.array([max(0.0, now - m.t) / DAY for m in self.items])
        return self.vectors @ query + RECENCY_WEIGHT * 0.5 ** (ages / RECENCY_HALF_LIFE_DAYS)

    def recall(self, query: np.ndarray, now: float) -> list[str]:
        """The memories for a turn whose words embed to ``query``, the best first."""
        if not self.items:
            return []
        relevance = self.vectors @ query
        scores = self.scores(query, now)
        out: list[str] = []
        budget = BUDGET_TOKENS
        for i in np.argsort(-scores, kind="stable"):
            if relevance[i] < MIN_RELEVANCE or len(out) == MAX_MEMORIES:
                break
            text = self.items[i].text
            if tokens(text) <= budget:
                out.append(text)
                budget -= tokens(text)
        return out
