"""VMC protocol sender: drives VSeeFace, Warudo, VNyan and other VMC receivers over OSC/UDP.

Each face frame goes out as one OSC bundle: ``/VMC/Ext/Blend/Val name value`` per blendshape,
``/VMC/Ext/Blend/Apply``, ``/VMC/Ext/Bone/Pos "Head" px py pz qx qy qz qw`` (and the eye bones
from the gaze), ``/VMC/Ext/OK 1`` and ``/VMC/Ext/T seconds``. Names are ARKit's (for "perfect
sync" models) or the VRM presets (A I U E O, Blink_L/R, Joy, Angry, Sorrow, Fun) or both.

Coordinates are Unity's (left-handed, y up), with the model facing +z toward the camera, so
every FaceState angle (viewer-relative, see ``agent.core.face_state``) changes sign.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import struct
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from agent.core.errors import UserError
from agent.core.face_state import BLENDSHAPES, INDEX, FaceState
from plugins.api import Capabilities, Plugin, PluginContext, PluginSettings

log = logging.getLogger(__name__)

HEAD_LOCAL = (0.0, 0.06, 0.0)  # head relative to neck (m); receivers mostly use only the rotation
EYE_BONES = ("LeftEye", "RightEye")


class VMCSettings(PluginSettings):
    host: str = Field("127.0.0.1", description="receiver address")
    port: Annotated[int, Field(ge=1, le=65535, description="receiver port (VSeeFace: 39539)")] = 39539
    rate: Annotated[float, Field(gt=0.0, le=120.0, description="frames per second")] = 60.0
    names: Literal["arkit", "vrm", "both"] = "arkit"
    eyes: bool = Field(True, description="send LeftEye/RightEye bones from the gaze")


def quat_from_euler(x: float, y: float, z: float) -> tuple[float, float, float, float]:
    """Unity's ``Quaternion.Euler`` (radians): rotate about z, then x, then y; returns (x, y, z, w)."""
    cx, sx = math.cos(x / 2), math.sin(x / 2)
    cy, sy = math.cos(y / 2), math.sin(y / 2)
    cz, sz = math.cos(z / 2), math.sin(z / 2)
    # q = qy * qx * qz
    return (cy * sx * cz + sy * cx * sz,
            sy * cx * cz - cy * sx * sz,
            cy * cx * sz - sy * sx * cz,
            cy * cx * cz + sy * sx * sz)


def head_rotation(state: FaceState) -> tuple[float, float, float, float]:
    pitch, yaw, roll = state.head
    return quat_from_euler(-pitch, -yaw, -roll)


def eye_rotation(state: FaceState) -> tuple[float, float, float, float]:
    h, v = state.gaze
    return quat_from_euler(-v, -h, 0.0)


def vrm_presets(state: FaceState) -> dict[str, float]:
    """VRM 0.x preset weights from ARKit blendshapes (the mapping is a design choice)."""
    w = state.weights

    def avg(*names: str) -> float:
        return float(np.mean([w[INDEX[n]] for n in names]))

    out = {
        "A": avg("jawOpen"),
        "I": avg("mouthStretchLeft", "mouthStretchRight"),
        "U": avg("mouthPucker"),
        "E": avg("mouthLowerDownLeft", "mouthLowerDownRight"),
        "O": avg("mouthFunnel"),
        "Blink_L": avg("eyeBlinkLeft"),
        "Blink_R": avg("eyeBlinkRight"),
        "Joy": avg("mouthSmileLeft", "mouthSmileRight"),
        "Angry": avg("browDownLeft", "browDownRight"),
        "Sorrow": min(avg("browInnerUp"), avg("mouthFrownLeft", "mouthFrownRight")),  # AU1 + AU15
        "Fun": avg("cheekSquintLeft", "cheekSquintRight"),
    }
    return {k: round(float(np.clip(v, 0.0, 1.0)), 4) for k, v in out.items()}


def frame_messages(state: FaceState, t: float, names: str = "arkit", eyes: bool = True
                   ) -> list[tuple[str, list[Any]]]:
    """The (address, args) of one frame, in the order receivers expect (values, then Apply)."""
    msgs: list[tuple[str, list[Any]]] = [("/VMC/Ext/OK", [1]), ("/VMC/Ext/T", [float(t)])]
    if names in ("arkit", "both"):
        msgs += [("/VMC/Ext/Blend/Val", [n, float(v)]) for n, v in zip(BLENDSHAPES, state.weights)]
    if names in ("vrm", "both"):
        msgs += [("/VMC/Ext/Blend/Val", [n, v]) for n, v in vrm_presets(state).items()]
    msgs.append(("/VMC/Ext/Blend/Apply", []))
    tx, ty, tz = state.translation
    pos = [HEAD_LOCAL[0] - tx, HEAD_LOCAL[1] + ty, HEAD_LOCAL[2] + tz]
    msgs.append(("/VMC/Ext/Bone/Pos", ["Head", *pos, *head_rotation(state)]))
    if eyes:
        q = eye_rotation(state)
        msgs += [("/VMC/Ext/Bone/Pos", [bone, 0.0, 0.0, 0.0, *q]) for bone in EYE_BONES]
    return msgs


def _osc_string(text: str) -> bytes:
    raw = text.encode("utf-8") + b"\0"
    return raw + b"\0" * (-len(raw) % 4)


@functools.lru_cache(maxsize=512)
def _head(address: str, tags: str, first: str | None) -> bytes:
    """Address, type tags and (when it is a string) the first argument: the part of a VMC message
    that repeats every frame, encoded once."""
    return _osc_string(address) + _osc_string("," + tags) + (_osc_string(first) if first is not None else b"")


def _message(address: str, args: list[Any]) -> bytes:
    tags = "".join("f" if isinstance(a, float) else "i" if isinstance(a, int) else "s" for a in args)
    first = args[0] if args and isinstance(args[0], str) else None
    out = [_head(address, tags, first)]
    for tag, a in zip(tags[1:] if first is not None else tags, args[1:] if first is not None else args):
        out.append(struct.pack(">f", a) if tag == "f" else struct.pack(">i", a) if tag == "i"
                   else _osc_string(a))
    return b"".join(out)


def encode(messages: list[tuple[str, list[Any]]]) -> bytes:
    """One OSC 1.0 bundle (timetag 1: "immediately") holding every message of a frame.

    Hand-rolled (OSC is a few struct.packs) because a general builder costs ~1 ms a frame on
    the event loop; the tests decode it with python-osc.
    """
    out = [b"#bundle\0", struct.pack(">Q", 1)]
    for address, args in messages:
        body = _message(address, args)
        out.append(struct.pack(">i", len(body)))
        out.append(body)
    return b"".join(out)


class VMCSender(Plugin):
    """Blendshapes and head pose to a VMC receiver (VSeeFace, Warudo, VNyan) over OSC/UDP."""

    name = "vmc"
    Settings = VMCSettings  # type: ignore[assignment]

    def __init__(self, settings: VMCSettings | None = None) -> None:
        super().__init__(settings)
        self.settings: VMCSettings
        self._transport: asyncio.DatagramTransport | None = None
        self._t0 = 0.0
        self.sent = 0

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        return Capabilities(face_rate=self.settings.rate)

    async def start(self, ctx: PluginContext) -> None:
        await super().start(ctx)
        loop = asyncio.get_running_loop()
        try:
            self._transport, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=(self.settings.host, self.settings.port))
        except OSError as exc:
            raise UserError(f"vmc: cannot send to {self.settings.host}:{self.settings.port}: "
                            f"{exc.strerror or exc}") from None
        self._t0 = loop.time()

    async def on_face(self, state: FaceState) -> None:
        if self._transport is None:
            return
        t = asyncio.get_running_loop().time() - self._t0
        s = self.settings
        self._transport.sendto(encode(frame_messages(state, t, s.names, s.eyes)))
        self.sent += 1

    async def stop(self) -> None:
        """Send a neutral face once, so the model does not freeze mid-word."""
        if self._transport is None:
            return
        try:
            await self.on_face(FaceState())
        except OSError as exc:
            log.debug("vmc: neutral frame not sent: %s", exc)
        self._transport.close()
        self._transport = None
