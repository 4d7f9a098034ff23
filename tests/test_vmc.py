"""The VMC sender's packets, decoded by a real OSC server (python-osc) on 127.0.0.1."""

import asyncio
import math

import numpy as np
import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import AsyncIOOSCUDPServer
from scipy.spatial.transform import Rotation

from agent.core.bus import EventBus
from agent.core.face_state import BLENDSHAPES, FaceState
from agent.core.tasks import TaskOwner
from plugins.host import PluginHost
from plugins.vmc import VMCSender, VMCSettings, quat_from_euler


@pytest.fixture
async def receiver():
    """A VMC receiver stand-in: every OSC message as (address, args), in arrival order."""
    got: list[tuple[str, tuple]] = []
    dispatcher = Dispatcher()
    dispatcher.set_default_handler(lambda address, *args: got.append((address, args)))
    server = AsyncIOOSCUDPServer(("127.0.0.1", 0), dispatcher, asyncio.get_running_loop())
    transport, _ = await server.create_serve_endpoint()
    yield transport.get_extra_info("sockname")[1], got
    transport.close()


async def wait_for(pred, timeout=2.0):
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.002)  # a tiny wait for UDP on localhost


async def run_sender(port, frames, **settings):
    bus, owner = EventBus(), TaskOwner("test")
    host = PluginHost(bus, owner)
    host.add(VMCSender(VMCSettings(port=port, **settings)))
    await host.start(strict=True)
    for f in frames:
        host.face(f)
    return host, owner


async def test_frame_decodes_to_blendshapes_apply_head_bone_ok_and_time(receiver):
    port, got = receiver
    state = FaceState(t=0.5, head=(0.1, 0.3, -0.05), gaze=(0.2, -0.1)).with_weights(
        jawOpen=0.75, mouthSmileLeft=0.5, eyeBlinkRight=1.0)
    host, owner = await run_sender(port, [state])
    await wait_for(lambda: any(a == "/VMC/Ext/Blend/Apply" for a, _ in got))
    frame = list(got)
    await host.stop()
    await owner.aclose()

    addresses = [a for a, _ in frame]
    assert frame[0] == ("/VMC/Ext/OK", (1,))
    assert frame[1][0] == "/VMC/Ext/T" and isinstance(frame[1][1][0], float)
    values = {args[0]: args[1] for a, args in frame if a == "/VMC/Ext/Blend/Val"}
    assert list(values) == list(BLENDSHAPES)  # all 52 ARKit names, in ARKit order
    assert values["jawOpen"] == pytest.approx(0.75, abs=1e-6)
    assert values["mouthSmileLeft"] == pytest.approx(0.5, abs=1e-6)
    assert values["eyeBlinkRight"] == pytest.approx(1.0) and values["browDownLeft"] == 0.0
    apply_at = addresses.index("/VMC/Ext/Blend/Apply")
    assert apply_at > max(i for i, a in enumerate(addresses) if a == "/VMC/Ext/Blend/Val")
    bones = {args[0]: args[1:] for a, args in frame if a == "/VMC/Ext/Bone/Pos"}
    assert set(bones) == {"Head", "LeftEye", "RightEye"}
    head = bones["Head"]
    assert len(head) == 7
    q = np.array(head[3:])
    assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-5)
    expected = quat_from_euler(-0.1, -0.3, 0.05)
    assert q == pytest.approx(expected, abs=1e-5)


async def test_vrm_preset_names_and_neutral_frame_on_stop(receiver):
    port, got = receiver
    host, owner = await run_sender(port, [FaceState().with_weights(jawOpen=0.9, eyeBlinkLeft=1.0)],
                                   names="vrm", eyes=False)
    await wait_for(lambda: any(a == "/VMC/Ext/Blend/Apply" for a, _ in got))
    values = {args[0]: args[1] for a, args in got if a == "/VMC/Ext/Blend/Val"}
    assert set(values) == {"A", "I", "U", "E", "O", "Blink_L", "Blink_R", "Joy", "Angry", "Sorrow", "Fun"}
    assert values["A"] == pytest.approx(0.9, abs=1e-6) and values["Blink_L"] == pytest.approx(1.0)
    assert not any(args[0] == "LeftEye" for a, args in got if a == "/VMC/Ext/Bone/Pos")
    got.clear()
    await host.stop()  # sends one neutral frame so the model does not freeze mid-word
    await owner.aclose()
    await wait_for(lambda: any(a == "/VMC/Ext/Blend/Apply" for a, _ in got))
    neutral = {args[0]: args[1] for a, args in got if a == "/VMC/Ext/Blend/Val"}
    assert neutral["A"] == 0.0 and neutral["Blink_L"] == 0.0


async def test_sender_sends_the_newest_frame_not_a_backlog(receiver):
    port, got = receiver
    frames = [FaceState(t=i / 100).with_weights(jawOpen=i / 100) for i in range(101)]
    host, owner = await run_sender(port, frames, rate=30.0)  # 101 frames offered at once
    applies = lambda: sum(a == "/VMC/Ext/Blend/Apply" for a, _ in got)  # noqa: E731
    await wait_for(lambda: applies() >= 1)
    await asyncio.sleep(0.05)
    assert applies() == 1
    host.face(FaceState(t=2.0).with_weights(jawOpen=0.25))
    await wait_for(lambda: applies() >= 2)
    await host.stop()
    await owner.aclose()
    jaw = [args[1] for a, args in got if a == "/VMC/Ext/Blend/Val" and args[0] == "jawOpen"]
    assert jaw[:2] == [pytest.approx(1.0), pytest.approx(0.25)]


@pytest.mark.parametrize("x,y,z", [(0.3, 0, 0), (0, 0.4, 0), (0, 0, -0.2), (0.1, -0.5, 0.25)])
def test_quaternion_is_unitys_euler_order(x, y, z):
    # Unity's Quaternion.Euler applies z, then x, then y: intrinsic Y-X-Z
    expected = Rotation.from_euler("YXZ", [y, x, z]).as_quat()  # (x, y, z, w)
    got = np.array(quat_from_euler(x, y, z))
    assert got == pytest.approx(expected, abs=1e-9) or got == pytest.approx(-expected, abs=1e-9)


def test_settings_errors_are_one_line():
    from agent.core.errors import UserError
    from plugins.registry import PluginSpec, build

    with pytest.raises(UserError, match=r"^plugin vmc: bad port='99999': Input should be less than or equal to 65535"):
        build(PluginSpec.parse("vmc:port=99999"))
    with pytest.raises(UserError, match=r"^plugin vmc: bad names='blender': Input should be 'arkit', 'vrm' or 'both'"):
        build(PluginSpec.parse("vmc:names=blender"))
    sender = build(PluginSpec.parse("vmc:host=127.0.0.1,port=39539,rate=50"))
    assert isinstance(sender, VMCSender) and sender.capabilities.face_rate == 50.0
    assert math.isclose(sender.settings.rate, 50.0)
