"""The WebSocket bridge's wire format, version 1 (documented in docs/websocket-schema.md).

Every message is one JSON object with ``"v": 1`` and a ``"type"``. Messages from clients are
validated here with pydantic (a discriminated union on ``type``) so the bridge never forwards
a malformed command; ``schema()`` writes the JSON Schema clients can generate types from.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from agent.core.events import Event
from agent.core.face_state import FaceState
from agent.core.speech import SpeechChunk

SCHEMA_VERSION = 1


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = 1
    id: Annotated[str, Field(max_length=64)] | int | None = Field(
        None, description="echoed in the ack or error reply")


class Auth(_Msg):
    type: Literal["auth"]
    token: Annotated[str, Field(max_length=512)]


class Ping(_Msg):
    type: Literal["ping"]


class Say(_Msg):
    """The agent speaks this text (an operator or a game script)."""

    type: Literal["say"]
    text: Annotated[str, Field(min_length=1, max_length=2000)]


class UserSays(_Msg):
    """Typed user input, as if the user had spoken it."""

    type: Literal["user_text"]
    text: Annotated[str, Field(min_length=1, max_length=2000)]


class StopTalking(_Msg):
    type: Literal["stop_talking"]


class Touched(_Msg):
    """A touch sensor fired (a robot's head, hand, ...)."""

    type: Literal["touched"]
    where: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = "head"
    strength: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0


class SetEmotion(_Msg):
    """Force the agent's emotion: ``"joy"``, ``"joy:0.5"`` or ``"V,A,D"``."""

    type: Literal["set_emotion"]
    emotion: Annotated[str, Field(min_length=1, max_length=64)]

    @field_validator("emotion")
    @classmethod
    def _known(cls, value: str) -> str:
        from persona.emotion import parse_emotion

        parse_emotion(value)  # ValueError names the known labels
        return value


ClientMessage = Annotated[Auth | Ping | Say | UserSays | StopTalking | Touched | SetEmotion,
                          Field(discriminator="type")]
_client = TypeAdapter(ClientMessage)
COMMANDS = ("say", "user_text", "stop_talking", "touched", "set_emotion")


class BadMessage(ValueError):
    """A client message that is not JSON or not valid v1; the text is the one-line reply."""


def parse_client(raw: str | bytes) -> Auth | Ping | Say | UserSays | StopTalking | Touched | SetEmotion:
    if isinstance(raw, bytes):
        raise BadMessage("binary frames are not accepted; send JSON text")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadMessage(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise BadMessage("a message is a JSON object with \"v\": 1 and a \"type\"")
    try:
        return _client.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:] or err["loc"]) or "message"
        if err["type"] == "union_tag_invalid":
            raise BadMessage(f"unknown type {data.get('type')!r}; allowed: "
                             + ", ".join(("auth", "ping") + COMMANDS)) from None
        if err["type"] == "union_tag_not_found":
            raise BadMessage("missing \"type\"; allowed: " + ", ".join(("auth", "ping") + COMMANDS)) from None
        raise BadMessage(f"{where}: {err['msg']}") from None


def command_args(msg: BaseModel) -> dict[str, Any]:
    """The arguments a client command carries into ``PluginCommand.args``."""
    if isinstance(msg, SetEmotion):
        from persona.emotion import parse_emotion

        emo = parse_emotion(msg.emotion)
        return {"emotion": msg.emotion, "label": emo.label, "vad": list(emo.vad),
                "intensity": emo.intensity}
    return msg.model_dump(exclude={"v", "type", "id"})


# ---------------------------------------------------------------- server → client


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def hello(api: str, events: list[str], face_rate: float | None, speech: str, commands: bool) -> str:
    return _dump({"v": SCHEMA_VERSION, "type": "hello", "api": api, "events": events,
                  "face_rate": face_rate, "speech": speech,
                  "commands": list(COMMANDS) if commands else []})


def event(ev: Event, *, redact: bool) -> str:
    return _dump({"v": SCHEMA_VERSION, "type": "event", "event": ev.to_dict(redact=redact)})


def face(state: FaceState) -> str:
    return _dump({"v": SCHEMA_VERSION, "type": "face", "face": state.to_dict()})


def speech(chunk: SpeechChunk, start_t: float, *, audio: bool) -> str:
    out: dict[str, Any] = {
        "v": SCHEMA_VERSION, "type": "speech", "start_t": start_t, "text": chunk.text,
        "sentence_index": chunk.sentence_index, "last": chunk.last,
        "sample_rate": chunk.sample_rate, "duration": round(chunk.duration, 4),
        "words": [[w.word, round(w.start, 4), round(w.end, 4)] for w in chunk.words],
        "phonemes": [[p.phoneme, round(p.start, 4), round(p.end, 4), p.stress] for p in chunk.phonemes],
    }
    if audio:
        pcm = (np.clip(chunk.audio, -1.0, 1.0) * 32767).astype("<i2")
        out["audio"] = base64.b64encode(pcm.tobytes()).decode("ascii")  # PCM s16le mono
    return _dump(out)


def ack(msg_id: str | int | None, command: str) -> str:
    return _dump({"v": SCHEMA_VERSION, "type": "ack", "id": msg_id, "command": command})


def pong(msg_id: str | int | None) -> str:
    return _dump({"v": SCHEMA_VERSION, "type": "pong", "id": msg_id})


def error(text: str, msg_id: str | int | None = None) -> str:
    return _dump({"v": SCHEMA_VERSION, "type": "error", "id": msg_id, "error": text})


def schema() -> dict[str, Any]:
    """JSON Schema of the messages clients may send."""
    return _client.json_schema()
