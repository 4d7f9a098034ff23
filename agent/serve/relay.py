"""What the page shows and the operator reads: a session's words and emotions.

``Relay`` observes the session's bus. It keeps the transcript (the user's turns as they were
taken, the agent's words as far as the user heard them) and sends each event the page shows as
one JSON message on the peer's data channel. The channel is best-effort and bounded: when more
than ``MAX_BUFFERED`` bytes wait to go out (a peer that stopped reading), new messages are
dropped and counted, never queued without end.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from agent.core import events as ev

log = logging.getLogger(__name__)

MAX_BUFFERED = 1 << 20
MAX_TRANSCRIPT = 2000  # entries kept per session; a longer conversation keeps its latest part


def _vad(v: Any) -> list[float]:
    return [round(float(x), 3) for x in v]


# event type -> the message the page gets (None: the page does not show it)
_MESSAGES: dict[type[ev.Event], Callable[[Any], dict[str, Any] | None]] = {
    ev.Transcript: lambda e: {"type": "heard", "text": e.text} if e.final and e.text.strip() else None,
    ev.EndOfTurn: lambda e: {"type": "user", "text": e.text},
    ev.UserText: lambda e: {"type": "user", "text": e.text},
    ev.ReplySentence: lambda e: {"type": "sentence", "text": e.text, "index": e.index},
    ev.UtteranceEnded: lambda e: {"type": "agent", "text": e.heard_text, "interrupted": e.interrupted},
    ev.AgentEmotion: lambda e: {"type": "emotion", "label": e.label, "vad": _vad(e.vad),
                                "intensity": round(float(e.intensity), 3)},
    ev.UserAffect: lambda e: {"type": "user_affect", "label": e.label, "vad": _vad(e.vad),
                              "confidence": round(float(e.confidence), 3)},
    ev.TurnStateChanged: lambda e: {"type": "state", "state": e.new},
    ev.Notice: lambda e: {"type": "notice", "text": e.text} if e.level != "debug" else None,
}


class Relay:
    def __init__(self) -> None:
        self.channel: Any = None  # aiortc RTCDataChannel, once the peer opens it
        self.transcript: list[dict[str, str]] = []
        self.turns = 0
        self.dropped = 0

    def __call__(self, event: ev.Event) -> None:
        make = _MESSAGES.get(type(event))
        if make is None:
            return
        message = make(event)
        if message is None:
            return
        if message["type"] == "user" and message["text"].strip():
            self.turns += 1
            self._record("user", message["text"])
        elif message["type"] == "agent" and message["text"].strip():
            self._record("agent", message["text"])
        self.send(message)

    def _record(self, role: str, text: str) -> None:
        self.transcript.append({"role": role, "text": text.strip()})
        if len(self.transcript) > MAX_TRANSCRIPT:
            del self.transcript[: len(self.transcript) - MAX_TRANSCRIPT]

    def send(self, message: dict[str, Any]) -> None:
        channel = self.channel
        if channel is None or channel.readyState != "open":
            return
        if channel.bufferedAmount > MAX_BUFFERED:
            self.dropped += 1
            return
        try:
            channel.send(json.dumps(message))
        except Exception as e:  # the transport went away under us: the session is ending
            log.debug("data channel send failed: %s", e)
