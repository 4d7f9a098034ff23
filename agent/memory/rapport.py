"""How the user felt in earlier sessions, as evidence for how the persona starts this one.

The persona's emotion model takes it (``EmotionEngine.start_with``: the remembered affect is
caught as a present one would be, weaker), not the prompt: a user who was low last time meets a
persona whose mood starts less cheerful and less assertive, by as much as its personality
catches moods (the worrier catches it as worry).
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.memory.store import VAD, PastSession

SESSIONS = 3  # the latest few; each one back counts half the one after it
MEMORY_WEIGHT = 0.5  # a remembered mood is weaker evidence than a face in front of the persona
HALF_LIFE_DAYS = 7.0  # and it fades: a month-old low mood barely colours today's start
DAY = 86400.0


def remembered_affect(sessions: Sequence[PastSession], now: float) -> tuple[VAD, float] | None:
    """(VAD, confidence) of the user over their latest sessions (latest first), or None."""
    felt = [s for s in sessions if s.vad is not None and s.confidence > 0][:SESSIONS]
    if not felt:
        return None
    weights = [0.5 ** i * s.confidence for i, s in enumerate(felt)]
    total = sum(weights)
    vad = tuple(sum(w * s.vad[k] for w, s in zip(weights, felt) if s.vad) / total for k in range(3))
    days = max(0.0, now - (felt[0].ended or felt[0].started)) / DAY
    confidence = MEMORY_WEIGHT * total / sum(0.5 ** i for i in range(len(felt))) * 0.5 ** (days / HALF_LIFE_DAYS)
    return (vad[0], vad[1], vad[2]), confidence
