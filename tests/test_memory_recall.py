"""Recall ranking: relevance first, recency among near-equals, nothing irrelevant, a token budget."""

from __future__ import annotations

import numpy as np
import pytest

from agent.memory.recall import BUDGET_TOKENS, DAY, MAX_MEMORIES, MIN_RELEVANCE, RecallIndex, Remembered, tokens
from agent.memory.store import Fact, PastSession

NOW = 1_000 * DAY


def toward(cos: float, axis: int = 1) -> np.ndarray:
    """A unit vector at cosine ``cos`` to e0 (the query), leaning along ``axis``."""
    v = np.zeros(384, np.float32)
    v[0], v[axis] = cos, np.sqrt(1 - cos * cos)
    return v


QUERY = toward(1.0)


def index(*items: tuple[str, float, float]) -> RecallIndex:
    """(text, cosine to the query, age in days)"""
    return RecallIndex([Remembered(text, toward(cos, 1 + i), NOW - days * DAY)
                        for i, (text, cos, days) in enumerate(items)])


def test_relevance_beats_recency():
    found = index(("new but loosely related", 0.45, 0), ("old and on topic", 0.8, 400)).recall(QUERY, NOW)
    assert found == ["old and on topic", "new but loosely related"]


def test_recency_breaks_a_near_tie():
    found = index(("last year", 0.60, 365), ("this week", 0.58, 3)).recall(QUERY, NOW)
    assert found == ["this week", "last year"]


def test_irrelevant_memories_stay_out_however_recent():
    found = index(("about something else", MIN_RELEVANCE - 0.05, 0), ("relevant", 0.5, 30)).recall(QUERY, NOW)
    assert found == ["relevant"]
    assert index().recall(QUERY, NOW) == []


def test_what_is_recalled_fits_the_budget_and_the_count():
    long = "x" * (BUDGET_TOKENS * 4 - 20)  # nearly the whole budget alone
    found = index(("a short note", 0.5, 1), (long, 0.9, 1), ("another short note", 0.4, 1)).recall(QUERY, NOW)
    assert found == [long, "a short note"]  # the third does not fit after them
    assert sum(tokens(t) for t in found) <= BUDGET_TOKENS
    many = index(*[(f"note {i}", 0.5 + i / 100, 1) for i in range(10)]).recall(QUERY, NOW)
    assert len(many) == MAX_MEMORIES and many[0] == "note 9"


def test_the_index_holds_facts_and_summaries_with_their_age():
    fact = Fact(1, "event", "The user has a chemistry exam on Friday.", "chemistry exam", "I have ...",
                NOW - 5 * DAY, NOW - 3 * DAY, 2, 1, toward(0.9))
    past = PastSession(1, "tutor", NOW - 3 * DAY - 600, NOW - 3 * DAY, 4, "Sam worried about chemistry.",
                       toward(0.7, 2), (-0.3, 0.2, 0.0), 0.6)
    unsummed = PastSession(2, "tutor", NOW - DAY, None, 1, None, None, None, 0.0)
    found = RecallIndex.of([fact], [past, unsummed], NOW).recall(QUERY, NOW)
    assert found == ["The user has a chemistry exam on Friday (said 3 days ago)",
                     "a conversation 3 days ago: Sam worried about chemistry"]


@pytest.mark.slow
def test_minilm_brings_back_what_the_words_are_about():
    from perception.embeddings import embed

    notes = ["The user has a chemistry exam on Friday.", "The user's sister is called Ana.",
             "The user loves playing football.", "The user finds fractions hard.",
             "The user works at a bakery on weekends."]
    vectors = embed(notes)
    idx = RecallIndex([Remembered(n, v, NOW - (i + 1) * DAY) for i, (n, v) in enumerate(zip(notes, vectors))])

    def recall(words: str) -> list[str]:
        return idx.recall(embed([words])[0], NOW)

    assert recall("What do you remember about my exam?")[0] == notes[0]
    assert recall("Any tips for my football match on Saturday?")[0] == notes[2]
    assert recall("Can we practise dividing fractions?")[0] == notes[3]
    assert recall("My sister says hello!")[0] == notes[1]
    assert "The user's sister is called Ana." in recall("Do you remember my sister's name?")
    assert recall("What's the capital of Peru?") == []
