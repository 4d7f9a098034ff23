"""The per-turn note (``agent.dialogue``) for backends whose chat template takes a system
message only first: it joins the user's message it belongs to, in brackets. Past notes stay as
they were, so a server's cached prefix still holds."""

from __future__ import annotations

from collections.abc import Sequence

from agent.core.stages import Message


def notes_into_user(messages: Sequence[Message]) -> list[Message]:
    merged: list[Message] = []
    for m in messages:
        if m.role == "system" and merged and merged[-1].role == "user":
            merged[-1] = Message("user", f"{merged[-1].content}\n\n[{m.content}]")
        else:
            merged.append(m)
    return merged
