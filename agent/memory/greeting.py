"""A greeting built from what is remembered: "Welcome back, Sam — how did the chemistry exam go?"

Only from stored facts (the user's name, the latest event they mentioned), only for a user met
before, and only in English (the templates are English; other personas keep their own greeting).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.memory.store import Fact, PastSession


def greeting(default: str, facts: Sequence[Fact], sessions: Sequence[PastSession], language: str) -> str:
    if not sessions or not language.lower().startswith("en"):
        return default
    name = next((f.value for f in facts if f.kind == "name" and f.value), None)
    event = next((f.value for f in facts if f.kind == "event" and f.value), None)  # latest first
    hello = f"Welcome back, {name}" if name else "Welcome back"
    if event:
        return f"{hello} — how did the {event} go?"
    if not name:
        return default
    question = re.split(r"(?<=[.!?])\s+", default.strip())[-1]  # the persona's own opening question
    return f"{hello}! {question}" if question.endswith("?") else f"{hello}!"
