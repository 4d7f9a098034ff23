"""The WebSocket bridge with a real ``websockets`` client on localhost: events and face frames
out, validated commands in, malformed and oversized messages rejected without hurting the agent,
and a token wherever it is needed."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agent.core.bus import EventBus
from agent.core.errors import UserError
from agent.core.events import AgentEmotion, Interrupt, PluginCommand, Transcript
from agent.core.face_state import FaceState
from agent.core.tasks import TaskOwner
from plugins import wire
from plugins.host import PluginHost
from plugins.websocket_bridge import WebSocketBridge, WebSocketSettings


async def recv_json(ws, timeout=2.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws, pred, timeout=2.0):
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await ws.recv())
            if pred(msg):
                return msg


@pytest.fixture
async def bridge_host():
    """A bridge on a free localhost port inside a real PluginHost; yields (host, bus, url)."""
    hosts = []

    async def make(**settings):
        bus = EventBus()
        owner = TaskOwner("test")
        host = PluginHost(bus, owner)
        host.add(WebSocketBridge(WebSocketSettings(port=0, **settings)))
        await host.start(strict=True)
        hosts.append((host, owner))
        return host, bus, f"ws://127.0.0.1:{host.plugin('websocket').port}"

    yield make
    for host, owner in hosts:
        await host.stop()
        await owner.aclose()


async def test_client_receives_events_and_face_frames(no_leaked_tasks, bridge_host):
    host, bus, url = await bridge_host(face_rate=100)
    async with connect(url) as ws:
        hello = await recv_json(ws)
        assert hello["v"] == 1 and hello["type"] == "hello" and hello["api"] == "2.0"
        assert "stop_talking" in hello["commands"]
        await bus.publish(AgentEmotion(label="joy", vad=(0.8, 0.5, 0.4), intensity=0.7))
        await bus.publish(Transcript(text="my secret diary"))
        host.face(FaceState(t=1.5, head=(0.1, 0.2, 0.0)).with_weights(jawOpen=0.6))
        got = {}
        async with asyncio.timeout(2):
            while len(got) < 3:
                msg = json.loads(await ws.recv())
                assert msg["v"] == 1
                key = msg["event"]["type"] if msg["type"] == "event" else msg["type"]
                got[key] = msg
    emo = got["AgentEmotion"]["event"]
    assert emo["label"] == "joy" and emo["vad"] == [0.8, 0.5, 0.4] and emo["intensity"] == 0.7
    assert got["Transcript"]["event"]["text"] == "<redacted>"  # pii=false by default
    face = got["face"]["face"]
    assert face["t"] == 1.5 and face["blendshapes"]["jawOpen"] == pytest.approx(0.6, abs=1e-4)
    assert face["head"] == [0.1, 0.2, 0.0] and len(face["blendshapes"]) == 52


async def test_pii_forwarded_only_when_asked(bridge_host):
    _, bus, url = await bridge_host(pii=True, events="Transcript", face_rate=0)
    async with connect(url) as ws:
        assert (await recv_json(ws))["events"] == ["Transcript"]
        await bus.publish(AgentEmotion(label="joy", vad=(0.8, 0.5, 0.4), intensity=0.7))  # filtered out
        await bus.publish(Transcript(text="hello there"))
        msg = await recv_json(ws)
    assert msg["event"]["type"] == "Transcript" and msg["event"]["text"] == "hello there"


async def test_malformed_messages_get_an_error_and_the_connection_stays(bridge_host):
    host, bus, url = await bridge_host(face_rate=0, events="Notice")
    commands = bus.subscribe("conversation", PluginCommand)
    async with connect(url) as ws:
        await recv_json(ws)  # hello
        bad = {
            "not json at all": "not JSON",
            "[1, 2]": "JSON object",
            json.dumps({"v": 1}): "missing \"type\"",
            json.dumps({"v": 1, "type": "dance"}): "unknown type 'dance'",
            json.dumps({"v": 1, "type": "say"}): "text: Field required",
            json.dumps({"v": 2, "type": "ping"}): "v: Input should be 1",
            json.dumps({"v": 1, "type": "say", "text": "x" * 3000}): "text:",
            json.dumps({"v": 1, "type": "set_emotion", "emotion": "ecstasy"}): "unknown emotion 'ecstasy'",
            json.dumps({"v": 1, "type": "touched", "where": "head", "extra": 1}): "extra: Extra inputs",
        }
        for raw, expected in bad.items():
            await ws.send(raw)
            reply = await recv_json(ws)
            assert reply["type"] == "error" and expected in reply["error"], (raw, reply)
        await ws.send(b"\x00\x01binary")
        assert "binary frames" in (await recv_json(ws))["error"]
        # the same connection still works
        await ws.send(json.dumps({"v": 1, "type": "ping", "id": 7}))
        assert await recv_json(ws) == {"v": 1, "type": "pong", "id": 7}
        await ws.send(json.dumps({"v": 1, "type": "touched", "where": "head", "id": "t1"}))
        assert await recv_json(ws) == {"v": 1, "type": "ack", "id": "t1", "command": "touched"}
    cmd = await asyncio.wait_for(commands.channel.get(), 1)
    assert isinstance(cmd, PluginCommand)
    assert (cmd.plugin, cmd.command, cmd.args) == ("websocket", "touched", {"where": "head", "strength": 1.0})
    assert commands.channel.get_nowait() is None  # nothing malformed reached the bus
    assert host.status() == {"websocket": "running"}
    assert host.plugin("websocket").rejected == len(bad) + 1


async def test_commands_stop_talking_interrupts_and_set_emotion_is_parsed(bridge_host):
    _, bus, url = await bridge_host(face_rate=0, events="Notice")
    seen = bus.subscribe("conversation", PluginCommand)
    async with connect(url) as ws:
        await recv_json(ws)
        await ws.send(json.dumps({"v": 1, "type": "stop_talking"}))
        assert (await recv_json(ws))["type"] == "ack"
        await ws.send(json.dumps({"v": 1, "type": "set_emotion", "emotion": "sadness:0.5"}))
        assert (await recv_json(ws))["command"] == "set_emotion"
    first = await asyncio.wait_for(seen.channel.get(), 1)
    assert isinstance(first, Interrupt) and first.reason == "plugin:websocket"
    second = await asyncio.wait_for(seen.channel.get(), 1)
    assert second.command == "stop_talking"
    third = await asyncio.wait_for(seen.channel.get(), 1)
    assert third.command == "set_emotion" and third.args["label"] == "sadness"
    assert third.args["emotion"] == "sadness:0.5" and len(third.args["vad"]) == 3


async def test_oversized_message_closes_that_client_with_1009_and_agent_goes_on(bridge_host):
    host, bus, url = await bridge_host(max_size=1024, face_rate=0)
    async with connect(url, max_size=None) as ws:
        await recv_json(ws)
        await ws.send(json.dumps({"v": 1, "type": "say", "text": "x" * 5000}))
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(2):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert host.status() == {"websocket": "running"}
    async with connect(url) as other:  # the bridge still serves, the bus still flows
        await recv_json(other)
        await bus.publish(AgentEmotion(label="fear", vad=(-0.6, 0.8, -0.4), intensity=0.3))
        msg = await recv_until(other, lambda m: m["type"] == "event" and m["event"]["type"] == "AgentEmotion")
    assert msg["event"]["label"] == "fear"


async def test_token_required_when_not_on_localhost(monkeypatch):
    monkeypatch.delenv("AGENT_WS_TOKEN", raising=False)
    monkeypatch.delenv("AGENT_TOKEN", raising=False)
    bus, owner = EventBus(), TaskOwner("test")
    with pytest.raises(UserError, match="binding 0.0.0.0 .* needs a token"):
        PluginHost.from_specs(["websocket:host=0.0.0.0"], bus=bus, owner=owner)
    with pytest.raises(ValueError, match="needs a token"):
        WebSocketSettings(host="192.168.1.20")
    assert WebSocketSettings(host="0.0.0.0", token="s3cret").secret() == "s3cret"
    assert WebSocketSettings(host="::1").host == "::1"  # loopback needs none


async def test_token_from_environment(monkeypatch):
    monkeypatch.setenv("AGENT_WS_TOKEN", "from-env")
    monkeypatch.setenv("AGENT_TOKEN", "every-listener")
    assert WebSocketSettings(host="0.0.0.0").secret() == "from-env"
    monkeypatch.delenv("AGENT_WS_TOKEN")
    assert WebSocketSettings(host="0.0.0.0").secret() == "every-listener"


def other_interface() -> str:
    """An address of this machine that is not loopback: a client there counts as another machine."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("198.51.100.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = s.getsockname()[0]
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        pytest.skip("this machine has no network interface besides loopback")
    return address


async def test_a_web_page_from_another_origin_is_refused_at_the_handshake(bridge_host):
    """The attack in issue 18: a page open in the user's browser opens ws://127.0.0.1 and sends
    "say". The browser sends its Origin; the bridge refuses the upgrade, even with the token."""
    host, bus, url = await bridge_host(token="tok", face_rate=0)
    commands = bus.subscribe("conversation", PluginCommand)
    for query in ("", "?token=tok"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url + query, origin="http://evil.example"):
                pass
        response = refused.value.response
        assert response.status_code == 403
        assert b"origin 'http://evil.example' is not allowed" in response.body
    with pytest.raises(InvalidStatus) as refused:  # a file:// page or a sandboxed frame
        async with connect(url, origin="null"):
            pass
    assert refused.value.response.status_code == 403
    assert commands.channel.get_nowait() is None and host.plugin("websocket").rejected == 3


async def test_a_local_program_without_origin_connects_reads_events_and_commands(bridge_host):
    host, bus, url = await bridge_host(token="tok", face_rate=0, events="AgentEmotion")
    commands = bus.subscribe("conversation", PluginCommand)
    async with connect(url) as ws:  # no Origin header, no token: a program on this machine
        hello = await recv_json(ws)
        assert hello["type"] == "hello" and "say" in hello["commands"]
        await bus.publish(AgentEmotion(label="joy", vad=(0.8, 0.5, 0.4), intensity=0.7))
        assert (await recv_json(ws))["event"]["label"] == "joy"
        await ws.send(json.dumps({"v": 1, "type": "say", "text": "hello", "id": 1}))
        assert await recv_json(ws) == {"v": 1, "type": "ack", "id": 1, "command": "say"}
    cmd = await asyncio.wait_for(commands.channel.get(), 1)
    assert (cmd.command, cmd.args) == ("say", {"text": "hello"})


async def test_an_allowed_page_watches_but_needs_the_token_to_command(bridge_host):
    host, bus, url = await bridge_host(token="tok", face_rate=0, events="AgentEmotion",
                                       origins="http://localhost:8080+https://app.example")
    commands = bus.subscribe("conversation", PluginCommand)
    async with connect(url, origin="http://localhost:8080") as ws:
        hello = await recv_json(ws)
        assert hello["commands"] == []  # it may watch; it may not steer
        await bus.publish(AgentEmotion(label="joy", vad=(0.8, 0.5, 0.4), intensity=0.7))
        assert (await recv_json(ws))["event"]["type"] == "AgentEmotion"
        await ws.send(json.dumps({"v": 1, "type": "say", "text": "I agree to transfer the money now.",
                                  "id": "x"}))
        reply = await recv_json(ws)
        assert reply["type"] == "error" and reply["id"] == "x" and "commands need the token" in reply["error"]
        assert commands.channel.get_nowait() is None
        await ws.send(json.dumps({"v": 1, "type": "auth", "token": "tok"}))
        assert (await recv_json(ws))["command"] == "auth"
        await ws.send(json.dumps({"v": 1, "type": "touched", "id": 2}))
        assert (await recv_json(ws))["type"] == "ack"
    assert (await asyncio.wait_for(commands.channel.get(), 1)).command == "touched"
    async with connect(url + "?token=tok", origin="https://app.example") as ws:
        assert "say" in (await recv_json(ws))["commands"]
    async with connect(url, origin="http://localhost:8080") as ws:
        await recv_json(ws)
        await ws.send(json.dumps({"v": 1, "type": "auth", "token": "guess"}))
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
        assert closed.value.rcvd.code == 1008 and closed.value.rcvd.reason == "bad token"


async def test_without_a_token_nothing_but_a_local_program_may_command(bridge_host, monkeypatch):
    monkeypatch.delenv("AGENT_WS_TOKEN", raising=False)
    monkeypatch.delenv("AGENT_TOKEN", raising=False)
    _, bus, url = await bridge_host(face_rate=0, origins="http://localhost:8080")
    async with connect(url, origin="http://localhost:8080") as ws:
        assert (await recv_json(ws))["commands"] == []
        await ws.send(json.dumps({"v": 1, "type": "auth", "token": ""}))
        with pytest.raises(ConnectionClosed):  # an empty token never matches "no token"
            await recv_json(ws)


async def test_clients_from_another_machine_authenticate_by_query_or_first_message(bridge_host):
    address = other_interface()
    host, bus, _ = await bridge_host(host="0.0.0.0", token="letmein", face_rate=0)
    url = f"ws://{address}:{host.plugin('websocket').port}"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url + "?token=wrong"):
            pass
    assert refused.value.response.status_code == 401
    async with connect(url + "?token=letmein") as ws:
        assert "say" in (await recv_json(ws))["commands"]
    async with connect(url) as ws:  # no token in the URL: the first message must be auth
        await ws.send(json.dumps({"v": 1, "type": "auth", "token": "letmein"}))
        assert "say" in (await recv_json(ws))["commands"]
    async with connect(url) as ws:
        await ws.send(json.dumps({"v": 1, "type": "auth", "token": "nope"}))
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
        assert closed.value.rcvd.code == 1008 and closed.value.rcvd.reason == "bad token"
    async with connect(url) as ws:
        await ws.send(json.dumps({"v": 1, "type": "say", "text": "hi"}))
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
        assert closed.value.rcvd.code == 1008
    assert host.status() == {"websocket": "running"}


async def test_bound_elsewhere_with_token_starts_and_needs_it(bridge_host):
    host, _, _ = await bridge_host(host="0.0.0.0", token="tok", face_rate=0)
    port = host.plugin("websocket").port
    async with connect(f"ws://127.0.0.1:{port}?token=tok") as ws:
        assert (await recv_json(ws))["type"] == "hello"


async def test_port_in_use_is_one_clear_line(bridge_host):
    host, bus, _ = await bridge_host(face_rate=0)
    port = host.plugin("websocket").port
    owner = TaskOwner("second")
    second = PluginHost(bus, owner)
    second.add(WebSocketBridge(WebSocketSettings(port=port)))
    with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port}.*pick another port"):
        await second.start(strict=True)
    await second.stop()
    await owner.aclose()


async def test_slow_client_loses_its_own_events_only(bridge_host):
    host, bus, url = await bridge_host(outbox=4, face_rate=0, events="AgentEmotion")
    bridge = host.plugin("websocket")
    async with connect(url) as ws:
        await recv_json(ws)
        for i in range(50):  # published without yielding: the client's outbox overflows
            bus.publish_nowait(AgentEmotion(label="joy", vad=(0.1 * (i % 10), 0.0, 0.0), intensity=0.5))
        async with asyncio.timeout(2):
            while host.stats("websocket")["events"] < 50:
                await asyncio.sleep(0.001)
        client = next(iter(bridge._clients.values()))
        assert len(client.events) <= 4 and client.dropped >= 40


def test_client_schema_lists_every_command():
    schema = json.dumps(wire.schema())
    for name in ("auth", "ping") + wire.COMMANDS:
        assert f'"{name}"' in schema


async def test_speech_timings_and_audio_reach_clients(bridge_host):
    import base64

    import numpy as np

    from plugins.testing import fake_speech

    host, _, url = await bridge_host(speech="audio", face_rate=0, events="Notice")
    async with connect(url) as ws:
        await recv_json(ws)
        chunk = fake_speech("hi there", seconds=0.5, sample_rate=16000)
        host.speech(chunk, 12.5)
        msg = await recv_until(ws, lambda m: m["type"] == "speech")
    assert msg["start_t"] == 12.5 and msg["text"] == "hi there" and msg["sample_rate"] == 16000
    assert [w[0] for w in msg["words"]] == ["hi", "there"] and msg["words"][1][2] == 0.5
    pcm = np.frombuffer(base64.b64decode(msg["audio"]), dtype="<i2")
    assert len(pcm) == 8000 and abs(pcm.astype(np.float32) / 32767 - chunk.audio).max() < 1e-4


async def test_odd_tokens_and_too_many_clients_are_refused_cleanly(bridge_host):
    host, _, url = await bridge_host(token="tok", face_rate=0, max_clients=1)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url + "?token=%C3%A9t%C3%A9"):  # non-ASCII: still just a wrong token
            pass
    assert refused.value.response.status_code == 401
    async with connect(url + "?token=tok") as first:
        await recv_json(first)
        with pytest.raises(InvalidStatus) as full:
            async with connect(url + "?token=tok"):
                pass
        assert full.value.response.status_code == 503
    assert host.status() == {"websocket": "running"}
