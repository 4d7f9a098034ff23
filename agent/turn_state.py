"""The turn as one explicit state machine: listening → thinking → speaking → listening, with
pauses (speaking → paused → speaking, when the user only acknowledged) and interruptions.
Transitions are a table; anything else is an internal race, logged at debug level and ignored
(never raised into the conversation)."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class TurnState(enum.Enum):
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    PAUSED = "paused"  # quiet while the user's words decide: interrupted, or go on
    INTERRUPTED = "interrupted"
    STOPPED = "stopped"


S = TurnState
ALLOWED: dict[TurnState, frozenset[TurnState]] = {
    S.LISTENING: frozenset({S.THINKING, S.STOPPED}),
    S.THINKING: frozenset({S.SPEAKING, S.LISTENING, S.INTERRUPTED, S.STOPPED}),
    S.SPEAKING: frozenset({S.LISTENING, S.PAUSED, S.INTERRUPTED, S.STOPPED}),
    S.PAUSED: frozenset({S.SPEAKING, S.INTERRUPTED, S.STOPPED}),
    S.INTERRUPTED: frozenset({S.LISTENING, S.THINKING, S.STOPPED}),
    S.STOPPED: frozenset(),
}


class Turn:
    def __init__(self, on_change: Callable[[TurnState, TurnState], None] | None = None) -> None:
        self.state = TurnState.LISTENING
        self._on_change = on_change

    def to(self, new: TurnState) -> bool:
        """Move to ``new`` if the table allows it; returns whether the state changed."""
        old = self.state
        if new is old:
            return False
        if new not in ALLOWED[old]:
            log.debug("turn: ignored %s -> %s", old.value, new.value)
            return False
        self.state = new
        log.debug("turn: %s -> %s", old.value, new.value)
        if self._on_change is not None:
            self._on_change(old, new)
        return True
