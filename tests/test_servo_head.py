"""The servo head: limits, speed clamps, smoothing, and the neutral pose on stop and on fault,
driven by the plugin test kit in virtual time against a simulated head."""

import asyncio
import math

import pytest

from agent.core.errors import UserError
from agent.core.face_state import FaceState
from plugins.registry import PluginSpec, build
from plugins.servo_head import ServoCommand, ServoController, ServoHead, ServoSettings, SimulatedHead, targets
from plugins.testing import Timeline, run_plugin

SIM = dict(transport="sim", rate=30.0, max_speed=120.0, smoothing=0.0)


class TimedHead(SimulatedHead):
    """Also records when each command went out (loop clock), to check deg/s."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.times: list[float] = []

    def write(self, cmd):
        super().write(cmd)
        self.times.append(asyncio.get_running_loop().time())

    def speeds(self):
        c, t = self.commands, self.times
        return [max(abs(x - y) for x, y in zip(c[i + 1].as_tuple(), c[i].as_tuple())) / (t[i + 1] - t[i])
                for i in range(len(c) - 1) if t[i + 1] > t[i]]


def test_targets_map_head_gaze_jaw_and_brows():
    s = ServoSettings(**SIM, gaze_gain=0.5, jaw_max=30.0, brow_range=20.0)
    state = FaceState(head=(math.radians(10), math.radians(20), 0.0), gaze=(math.radians(8), 0.0)
                      ).with_weights(jawOpen=0.5, browInnerUp=1.0, browOuterUpLeft=1.0, browOuterUpRight=1.0)
    cmd = targets(state, s)
    assert cmd.pan == pytest.approx(24.0) and cmd.tilt == pytest.approx(10.0)
    assert cmd.jaw == pytest.approx(15.0) and cmd.brow == pytest.approx(20.0)
    frown = targets(FaceState().with_weights(browDownLeft=1.0, browDownRight=1.0), s)
    assert frown.brow == pytest.approx(-20.0)
    inverted = targets(state, ServoSettings(**SIM, invert_pan=True))
    assert inverted.pan < 0


def test_limits_and_speed_clamp():
    c = ServoController(ServoSettings(**SIM, pan_max=45.0, tilt_min=-10.0))
    far = ServoCommand(pan=90.0, tilt=-90.0, jaw=99.0, brow=99.0)
    steps = [c.step(far, 1 / 30) for _ in range(60)]
    assert all(abs(b.pan - a.pan) <= 4.0 + 1e-9 for a, b in zip(steps, steps[1:]))  # 120 deg/s at 30 Hz
    assert steps[0].pan == pytest.approx(4.0)
    assert steps[-1] == ServoCommand(pan=45.0, tilt=-10.0, jaw=25.0, brow=20.0)
    assert c.step(far, 10.0).pan == 45.0  # a stall never allows a jump beyond the clamp + limits


def test_smoothing_is_first_order():
    c = ServoController(ServoSettings(**{**SIM, "smoothing": 0.1, "max_speed": 1000.0}))
    first = c.step(ServoCommand(pan=10.0), 0.1)
    assert first.pan == pytest.approx(10.0 * (1 - math.exp(-1)))


def test_plugin_follows_the_face_within_limits_and_speed_then_rests_neutral():
    sim = TimedHead()
    head = ServoHead(ServoSettings(**SIM, pan_max=30.0), transport=sim)
    swing = lambda t: FaceState(t=t, head=(0.0, math.radians(80) * math.sin(2 * math.pi * t), 0.0))  # noqa: E731
    run = run_plugin(head, Timeline().faces(0.0, 3.0, fps=60, make=swing))
    assert run.status == "stopped" and not run.errors
    cmds = sim.commands
    assert sim.opened and sim.closed
    assert len(cmds) > 80  # ~30 Hz for 3 s, plus the ramp home
    assert max(c.pan for c in cmds) == pytest.approx(30.0) and min(c.pan for c in cmds) >= -60.0
    assert max(sim.speeds()) <= 120.0 + 1e-6  # deg/s, every servo, every step
    assert cmds[-1] == ServoCommand()  # neutral on stop


def test_transport_fault_goes_neutral_and_plugin_is_disabled():
    sim = TimedHead(fail_after=40)
    head = ServoHead(ServoSettings(**SIM), transport=sim)
    nod = lambda t: FaceState(t=t, head=(math.radians(25), math.radians(40), 0.0))  # noqa: E731
    run = run_plugin(head, Timeline().faces(0.0, 3.0, fps=60, make=nod))
    assert run.status == "disabled"
    assert len(run.errors) == 1
    assert "plugin servo failed: on_face raised OSError: simulated servo bus error" in run.errors[0]
    cmds = sim.commands
    assert cmds[-1] == ServoCommand()
    assert max(sim.speeds()) <= 120.0 + 1e-6  # the ramp home too
    peak = max(range(len(cmds)), key=lambda i: cmds[i].pan)
    assert cmds[peak].pan > 30.0 and all(c.pan >= 0 for c in cmds[peak:])  # went straight home


def test_host_fault_elsewhere_also_sends_neutral():
    """A callback that overruns its timeout (a stuck transport in the plugin's thread) is
    disabled by the host, whose stop() then brings the head home."""

    class StuckOnce(SimulatedHead):
        def write(self, cmd):
            if len(self.commands) == 20 and not getattr(self, "stuck", False):
                self.stuck = True
                import time
                time.sleep(0.12)  # blocks the plugin's own thread (not the loop) past its timeout
            super().write(cmd)

    from plugins.host import Timeouts

    sim = StuckOnce(blocking=True)
    head = ServoHead(ServoSettings(**SIM), transport=sim)
    run = run_plugin(head, Timeline().faces(0.0, 2.0, fps=60, make=lambda t: FaceState(
        t=t, head=(0.0, math.radians(30), 0.0))), timeouts=Timeouts(face=0.05, stop=3.0))
    assert run.status == "disabled" and "did not finish within 0.05s" in run.errors[0]
    assert sim.commands[-1] == ServoCommand()


def test_serial_without_pyserial_is_one_line():
    try:
        import serial  # noqa: F401
        pytest.skip("pyserial is installed")
    except ImportError:
        pass
    head = build(PluginSpec.parse("servo:device=/dev/ttyUSB9"))
    with pytest.raises(UserError, match=r"pyserial .* is not installed; install it with: pip install pyserial"):
        run_plugin(head, Timeline())


def test_settings_validation():
    with pytest.raises(UserError, match="limits must hold the neutral pose"):
        build(PluginSpec.parse("servo:transport=sim,pan_max=-5"))
    with pytest.raises(UserError, match=r"bad max_speed='fast'"):
        build(PluginSpec.parse("servo:transport=sim,max_speed=fast"))
    head = build(PluginSpec.parse("servo:transport=sim,rate=20"))
    assert isinstance(head.transport, SimulatedHead) and head.capabilities.face_rate == 20.0
