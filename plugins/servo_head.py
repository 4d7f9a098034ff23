"""Servo head: the agent's head pose, gaze, jaw and brows on a small pan/tilt robot head.

Per face frame: targets (degrees) from the FaceState → position limits → smoothing (first-order,
time constant ``smoothing``) → speed clamp (``max_speed`` deg/s) → the transport. On stop, and on
any fault of the plugin or its transport, the head goes back to the neutral pose at the same
speed limit (then the neutral pose is sent once more, in case the ramp was cut short).

The transport is pluggable: ``SerialTransport`` writes one ASCII line per frame,
``P<pan> T<tilt> J<jaw> B<brow>\\n`` in degrees (e.g. for an Arduino sketch driving four
hobby servos); ``SimulatedHead`` records the commands (tests, dry runs).
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from typing import Annotated, Literal, Protocol

from pydantic import Field, model_validator

from agent.core.errors import DeviceUnavailable, MissingDependency
from agent.core.face_state import FaceState
from plugins.api import Capabilities, Plugin, PluginContext, PluginSettings

log = logging.getLogger(__name__)
Deg = Annotated[float, Field(ge=-180.0, le=180.0)]


@dataclass(frozen=True)
class ServoCommand:
    """Servo angles in degrees; 0 is the neutral (straight ahead, mouth closed, brows relaxed)."""

    pan: float = 0.0
    tilt: float = 0.0
    jaw: float = 0.0
    brow: float = 0.0

    def encode(self) -> bytes:
        return f"P{self.pan:.1f} T{self.tilt:.1f} J{self.jaw:.1f} B{self.brow:.1f}\n".encode("ascii")

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.pan, self.tilt, self.jaw, self.brow)


class ServoTransport(Protocol):
    """Where commands go. ``blocking``: True if ``write`` may block (run in the plugin's thread)."""

    blocking: bool

    def open(self) -> None: ...

    def write(self, cmd: ServoCommand) -> None: ...

    def close(self) -> None: ...


@dataclass
class SimulatedHead:
    """Records every command; ``fail_after`` makes the n-th write raise (to test fault handling)."""

    blocking: bool = False
    fail_after: int | None = None
    commands: list[ServoCommand] = field(default_factory=list)
    opened: bool = False
    closed: bool = False

    def open(self) -> None:
        self.opened = True

    def write(self, cmd: ServoCommand) -> None:
        if self.fail_after is not None and len(self.commands) >= self.fail_after:
            self.fail_after = None  # one fault; the neutral pose afterwards goes through
            raise OSError("simulated servo bus error")
        self.commands.append(cmd)

    def close(self) -> None:
        self.closed = True


class SerialTransport:
    blocking = True

    def __init__(self, device: str, baud: int) -> None:
        self.device = device
        self.baud = baud
        self._port: object | None = None

    def open(self) -> None:
        try:
            import serial  # pyserial
        except ImportError:
            raise MissingDependency("pyserial (for the servo head's serial transport)",
                                    "pip install pyserial") from None
        try:
            self._port = serial.Serial(self.device, self.baud, timeout=0.1, write_timeout=0.1)
        except (OSError, serial.SerialException) as exc:
            raise DeviceUnavailable(f"servo head: cannot open {self.device}: {exc}; "
                                    "check the cable and device=, or use transport=sim") from None

    def write(self, cmd: ServoCommand) -> None:
        if self._port is not None:
            self._port.write(cmd.encode())  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._port is not None:
            self._port.close()  # type: ignore[attr-defined]
            self._port = None


class ServoSettings(PluginSettings):
    transport: Literal["serial", "sim"] = "serial"
    device: str = Field("/dev/ttyUSB0", description="serial device")
    baud: Annotated[int, Field(gt=0)] = 115200
    rate: Annotated[float, Field(gt=0.0, le=100.0, description="commands per second")] = 30.0
    pan_min: Deg = -60.0
    pan_max: Deg = 60.0
    tilt_min: Deg = -30.0
    tilt_max: Deg = 30.0
    jaw_max: Annotated[float, Field(ge=0.0, le=90.0, description="jaw angle at jawOpen=1")] = 25.0
    brow_range: Annotated[float, Field(ge=0.0, le=90.0, description="brow angle at full raise")] = 20.0
    max_speed: Annotated[float, Field(gt=0.0, le=1000.0, description="deg/s, every servo")] = 120.0
    smoothing: Annotated[float, Field(ge=0.0, le=2.0, description="time constant, s (0: none)")] = 0.08
    gaze_gain: Annotated[float, Field(ge=0.0, le=2.0, description="how much gaze turns the head")] = 0.5
    invert_pan: bool = False
    invert_tilt: bool = False

    @model_validator(mode="after")
    def _ranges(self) -> ServoSettings:
        if not (self.pan_min <= 0.0 <= self.pan_max and self.tilt_min <= 0.0 <= self.tilt_max):
            raise ValueError("limits must hold the neutral pose: pan_min <= 0 <= pan_max and "
                             "tilt_min <= 0 <= tilt_max")
        return self


def targets(state: FaceState, s: ServoSettings) -> ServoCommand:
    """Raw servo targets (degrees, before limits) for one face frame."""
    pitch, yaw, _ = state.head
    gaze_h, gaze_v = state.gaze
    pan = math.degrees(yaw + s.gaze_gain * gaze_h) * (-1 if s.invert_pan else 1)
    tilt = math.degrees(pitch + s.gaze_gain * gaze_v) * (-1 if s.invert_tilt else 1)
    jaw = state["jawOpen"] * s.jaw_max
    raise_ = state["browInnerUp"] * 0.5 + (state["browOuterUpLeft"] + state["browOuterUpRight"]) * 0.25
    lower = (state["browDownLeft"] + state["browDownRight"]) * 0.5
    brow = (raise_ - lower) * s.brow_range
    return ServoCommand(pan, tilt, jaw, brow)


class ServoController:
    """Limits, smoothing and speed clamp; a pure function of (target, dt) and its last output."""

    def __init__(self, s: ServoSettings) -> None:
        self.s = s
        self.pos = ServoCommand()
        self._lo = (s.pan_min, s.tilt_min, 0.0, -s.brow_range)
        self._hi = (s.pan_max, s.tilt_max, s.jaw_max, s.brow_range)

    def limit(self, cmd: ServoCommand) -> ServoCommand:
        return ServoCommand(*(min(max(v, lo), hi) for v, lo, hi in zip(cmd.as_tuple(), self._lo, self._hi)))

    def step(self, target: ServoCommand, dt: float) -> ServoCommand:
        dt = min(max(dt, 0.0), 0.25)  # after a stall, move as if a quarter second had passed
        goal = self.limit(target)
        alpha = 1.0 if self.s.smoothing == 0 else 1.0 - math.exp(-dt / self.s.smoothing)
        max_step = self.s.max_speed * dt
        out = []
        for cur, g in zip(self.pos.as_tuple(), goal.as_tuple()):
            want = cur + alpha * (g - cur)
            out.append(cur + min(max(want - cur, -max_step), max_step))
        self.pos = self.limit(ServoCommand(*out))
        return self.pos


class ServoHead(Plugin):
    """Head pose, gaze, jaw and brows to pan/tilt/jaw/brow servos, with limits and speed clamps."""

    name = "servo"
    Settings = ServoSettings  # type: ignore[assignment]

    def __init__(self, settings: ServoSettings | None = None, transport: ServoTransport | None = None) -> None:
        super().__init__(settings)
        self.settings: ServoSettings
        s = self.settings
        self.transport: ServoTransport = transport or (
            SimulatedHead() if s.transport == "sim" else SerialTransport(s.device, s.baud))
        self.controller = ServoController(s)
        self._last_t: float | None = None
        self._open = False

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        return Capabilities(face_rate=self.settings.rate)

    async def start(self, ctx: PluginContext) -> None:
        await super().start(ctx)
        await self._io(self.transport.open)
        self._open = True
        await self._write(ServoCommand())

    async def on_face(self, state: FaceState) -> None:
        cmd = self.controller.step(targets(state, self.settings), self._since_last())
        try:
            await self._write(cmd)
        except Exception:
            await self.neutral()  # the fault is still raised: the host logs it and applies its policy
            raise

    async def neutral(self, max_seconds: float = 1.5) -> None:
        """Ramp to the neutral pose within the speed limit, then send it exactly."""
        if not self._open:
            return
        loop = asyncio.get_running_loop()
        period = 1.0 / self.settings.rate
        end = loop.time() + max_seconds
        try:
            while any(abs(v) > 0.05 for v in self.controller.pos.as_tuple()) and loop.time() < end:
                await asyncio.sleep(max(0.0, period - self._since_last()))
                await self._write(self.controller.step(ServoCommand(), self._since_last()))
            self.controller.pos = ServoCommand()
            await self._write(self.controller.pos)
        except Exception as exc:  # the bus is down; nothing more we can do from here
            log.error("servo head: could not reach the neutral pose: %s", exc)

    async def stop(self) -> None:
        await self.neutral()
        if self._open:
            self._open = False
            await self._io(self.transport.close)

    def _since_last(self) -> float:
        """Seconds since the last command went out: what the speed clamp may use."""
        now = asyncio.get_running_loop().time()
        return 1.0 / self.settings.rate if self._last_t is None else now - self._last_t

    async def _write(self, cmd: ServoCommand) -> None:
        await self._io(self.transport.write, cmd)
        self._last_t = asyncio.get_running_loop().time()

    async def _io(self, fn, *args) -> None:
        if self.transport.blocking:
            await self.run_blocking(fn, *args)
        else:
            fn(*args)
