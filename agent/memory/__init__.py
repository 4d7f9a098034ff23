"""Long-term memory of each user: local, inspectable (``agent memory show|export``) and erasable
(``agent memory forget``).

- ``store``: the SQLite file (``paths``: where), schema-versioned (``schema``), WAL, one
  transaction per update; facts, session summaries, per-turn affect aggregated per session.
- ``extract``: facts from the user's words (a chat model's notes, or rules and MiniLM).
- ``recall``: the few memories most relevant to a turn, within a token budget.
- ``summary``, ``greeting``, ``rapport``: a session summed up; the greeting and the persona's
  starting mood from what is remembered.
- ``stage``: the session's ``Memory``, all of it in one worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.memory.paths import database_path, os_user
from agent.memory.schema import StoreError
from agent.memory.stage import Memory
from agent.memory.store import MemoryStore

__all__ = ["Memory", "MemoryStore", "StoreError", "database_path", "open_memory", "os_user"]


async def open_memory(user: str, persona: Any, llm: Any, engine: Any,
                      notice: Callable[[str], None]) -> Memory | None:
    """The session's memory of ``user``, its rapport given to the emotion ``engine``; None with a
    notice when the file cannot be used (the conversation goes on without memory)."""
    try:
        memory = await Memory.open(user, persona, llm)
    except StoreError as e:
        notice(f"memory is off for this session: {e}")
        return None
    memory.meet(engine)
    return memory
