"""The typed events of a session: one small frozen dataclass per thing that happens.

Every event carries a monotonic timestamp ``t`` (the running event loop's clock — which is
``time.monotonic()``, or virtual time in tests — unless the producer passes its own) and a
process-wide increasing ``id``. ``lane`` says whether it travels in
the control lane (overtakes data, never dropped) or the data lane. ``pii`` names the fields that
hold personal data (transcripts, faces, affect); observers keep them out of log text.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

_ids = itertools.count(1)


def _now() -> float:
    """The running loop's clock (``time.monotonic`` in production, virtual time in tests), else
    ``time.monotonic``: events and the session clock agree either way."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


class Lane(enum.Enum):
    DATA = "data"
    CONTROL = "control"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    lane: ClassVar[Lane] = Lane.DATA
    pii: ClassVar[tuple[str, ...]] = ()
    t: float = field(default_factory=_now)
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_dict(self, *, redact: bool = False) -> dict[str, Any]:
        """JSON-ready form: ``{"type": ..., "t": ..., "id": ..., **fields}``."""
        out: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "<redacted>" if redact and f.name in self.pii else _jsonable(value)
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return value.value
    return value


# ---------------------------------------------------------------- control lane


@dataclass(frozen=True, slots=True, kw_only=True)
class Interrupt(Event):
    """Stop the current utterance now (barge-in, a plugin's "stop talking", the user)."""

    lane: ClassVar[Lane] = Lane.CONTROL
    reason: str = "barge-in"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause(Event):
    """Go quiet now but keep the reply: the user started talking over the agent and it cannot
    yet tell whether they are taking the turn or only acknowledging ("uh-huh"). An ``Interrupt``
    (they are taking it) or a ``Resume`` (it was an acknowledgement) follows within a second."""

    lane: ClassVar[Lane] = Lane.CONTROL
    reason: str = "barge-in"


@dataclass(frozen=True, slots=True, kw_only=True)
class Resume(Event):
    """Go on with the paused reply, from the word it stopped in."""

    lane: ClassVar[Lane] = Lane.CONTROL
    reason: str = "backchannel"


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop(Event):
    """End the session."""

    lane: ClassVar[Lane] = Lane.CONTROL
    reason: str = "stop"


# ---------------------------------------------------------------- perception


@dataclass(frozen=True, slots=True, kw_only=True)
class UserSpeechStarted(Event):
    audio_t: float = 0.0  # seconds on the input audio clock


@dataclass(frozen=True, slots=True, kw_only=True)
class UserSpeechEnded(Event):
    audio_t: float = 0.0
    duration: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript(Event):
    pii: ClassVar[tuple[str, ...]] = ("text", "words")
    text: str
    final: bool = True
    words: tuple[tuple[str, float, float], ...] = ()  # (word, start, end) on the input clock
    language: str = "en"


@dataclass(frozen=True, slots=True, kw_only=True)
class AffectEstimated(Event):
    """One modality's estimate of the user's affect (face, voice or text)."""

    pii: ClassVar[tuple[str, ...]] = ("vad", "label", "cues")
    source: str  # "face" | "voice" | "text"
    vad: tuple[float, float, float]
    confidence: float
    label: str = ""
    cues: str = ""  # the estimate written as words ("smiles slightly")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAffect(Event):
    """The fused, smoothed estimate of the user's affect."""

    pii: ClassVar[tuple[str, ...]] = ("vad", "label", "cues")
    vad: tuple[float, float, float]
    confidence: float
    label: str = ""
    cues: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserPresence(Event):
    present: bool
    faces: int = 0
    position: tuple[float, float] = (0.0, 0.0)  # face centre, [-1, 1] in the frame
    looking: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class InputEnded(Event):
    """An input stage ran out (a file consumed, stdin closed). Data lane: it comes after what
    the input said, so the session answers that before it ends."""

    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserText(Event):
    """Typed input (no microphone, or `agent chat`)."""

    pii: ClassVar[tuple[str, ...]] = ("text",)
    text: str


# ---------------------------------------------------------------- agent


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted(Event):
    """What this session runs with: the persona, its language and the models of each stage."""

    persona: str
    language: str
    stages: dict[str, str] = field(default_factory=dict)  # stage -> model or device


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentGaze(Event):
    """Where the agent looks: at the user (their face's position in the camera image, each axis
    in [-1, 1]) or, with no one there, ahead (``None``)."""

    target: tuple[float, float] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt(Event):
    """The messages the LLM is given for a reply, in order (after the cached prefix comes what
    changes each turn)."""

    pii: ClassVar[tuple[str, ...]] = ("messages",)
    messages: tuple[tuple[str, str], ...]  # (role, content)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentEmotion(Event):
    label: str
    vad: tuple[float, float, float]
    intensity: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnStateChanged(Event):
    old: str
    new: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplySentence(Event):
    pii: ClassVar[tuple[str, ...]] = ("text",)
    text: str
    index: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class UtteranceStarted(Event):
    pii: ClassVar[tuple[str, ...]] = ("text",)
    utterance_id: int
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UtteranceEnded(Event):
    pii: ClassVar[tuple[str, ...]] = ("heard_text",)
    utterance_id: int
    interrupted: bool = False
    heard_text: str = ""  # only what was actually played


@dataclass(frozen=True, slots=True, kw_only=True)
class StageLatency(Event):
    """How long one stage took, for observers (benchmarks, logs, plugins)."""

    stage: str
    seconds: float
    turn: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginCommand(Event):
    """A command a plugin or a client sends back ("touched", "say", ...)."""

    plugin: str
    command: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice(Event):
    """A one-line, user-facing message (a missing device, a fallback taken)."""

    text: str
    level: str = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnLatency(Event):
    """Per-turn latency split (seconds), published when a reply ends."""

    turn: int
    vad_stop: float | None = None
    transcript: float | None = None
    end_of_turn: float | None = None
    emotion: float | None = None
    llm_first_sentence: float | None = None
    first_audio: float | None = None
    total: float | None = None

    @classmethod
    def of(cls, turn: int, spans: dict[str, float]) -> TurnLatency:
        """From ``TurnTimes.spans()``: the stages that happened, rounded to 0.1 ms."""
        known = {f.name for f in fields(cls)}
        return cls(turn=turn, **{k: round(v, 4) for k, v in spans.items() if k in known})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnEndLikely(Event):
    """The user's words are in and the turn will end unless they go on: a reply may be prepared
    (not spoken) until ``EndOfTurn`` with the same words confirms it."""

    pii: ClassVar[tuple[str, ...]] = ("text",)
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfTurn(Event):
    """The user's turn is over: what they said, when their speech ended and when that was
    decided (both seconds on the input audio clock)."""

    pii: ClassVar[tuple[str, ...]] = ("text",)
    text: str
    audio_end_t: float = 0.0
    decided_at: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class UserPause(Event):
    """The user's speech stopped for a moment (a pause between phrases or the end of an
    utterance): where listeners nod. ``audio_t``: when the pause began, ``duration``: how long
    it had lasted when this was published (seconds, input audio clock)."""

    audio_t: float = 0.0
    duration: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class UserExpression(Event):
    """The user's own face as the camera sees it: 52 ARKit blendshape weights (the order of
    ``agent.core.face_state.BLENDSHAPES``), for mirroring while listening."""

    pii: ClassVar[tuple[str, ...]] = ("blendshapes",)
    blendshapes: tuple[float, ...]
