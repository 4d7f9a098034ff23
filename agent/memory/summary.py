"""A session in a sentence or two, stored for later sessions to recall.

With a chat model the model writes it. The embedded base model cannot be trusted to summarise,
so then the summary is extractive: the user's own words that are most central to the session
(nearest the mean of its MiniLM vectors), quoted, in the order they were said.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agent.core.stages import LLM, Message
from agent.memory.extract import Embed

QUOTES = 2
QUOTE_CHARS = 120

SUMMARY_PROMPT = (
    "Below is a conversation between you and a user. For your own notes, summarise it in at most "
    "two sentences, in English, in the third person (\"The user ...\"): what they talked about, how "
    "they seemed to feel, and anything to follow up next time. Write only the summary.")


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS].rsplit(" ", 1)[0] + "…"


def extractive(user_turns: Sequence[str], embed: Embed, who: str = "The user") -> str | None:
    """Blocking (MiniLM). ``who``: the user's name when known."""
    said = [t for t in user_turns if len(t.split()) >= 3] or [t for t in user_turns if t.strip()]
    if not said:
        return None
    if len(said) > QUOTES:
        vectors = embed(said)
        centre = vectors.mean(axis=0)
        keep = sorted(np.argsort(-(vectors @ centre))[:QUOTES])
        said = [said[i] for i in keep]
    return f"{who} said: " + " … ".join(f"“{_quote(t)}”" for t in said)


async def by_llm(llm: LLM, turns: Sequence[tuple[str, str]], persona: str, max_tokens: int = 96) -> str | None:
    transcript = "\n".join(line for user, reply in turns
                           for line in (f"User: {user}", f"{persona}: {reply}" if reply else ""))
    messages = [Message("system", SUMMARY_PROMPT), Message("user", transcript)]
    text = "".join([d async for d in llm.stream(messages, max_tokens=max_tokens)]).strip()
    return " ".join(text.split()) or None
