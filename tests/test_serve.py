"""``agent serve`` with real HTTP and real WebRTC (aiortc peers over loopback); the session's
models are the test kit's, so this runs in seconds. The real models in a real browser:
test_serve_browser.py."""

from __future__ import annotations

import asyncio
import ssl

import numpy as np
import pytest
from aiohttp.test_utils import TestServer

from agent.core.access import AccessPolicy
from agent.core.errors import UserError
from agent.serve import ice
from agent.serve.client import RATE, ScriptedPeer
from agent.serve.peer import PeerOptions
from agent.serve.run import ServeConfig, check_listen
from agent.serve.server import Server
from agent.testing import FakeASR, FakeRenderer, FakeTTS, FakeVAD, StepProbe, fake_pipeline
from persona.config import get_persona

WORDS = "can you help me with fractions"


USERS: list[str | None] = []


async def fake_build(persona, opts, bus, models, progress=None):
    """The pipeline ``build_pipeline`` would make for a peer, with the test kit's models: the
    peer's microphone through real hearing and turn-taking, its output, its video sink."""
    from agent.turn_taking import TurnTaker
    from perception.hearing import Hearing

    USERS.append(opts.user)  # whom the session's memory would keep it for
    p = fake_pipeline(persona, reply=["A fraction is a part of a whole."], tts=FakeTTS(seconds_per_word=0.12))
    p.output = opts.audio_output
    p.hearing = Hearing(bus, opts.audio_source, FakeASR(WORDS), FakeVAD(), None)
    p.turns = TurnTaker(bus, p.hearing, None, None)
    p.hearing.listener = p.turns
    p.renderer = FakeRenderer((64, 64))
    p.live_sinks = list(opts.video_sinks)
    p.greet, p.ends_with = True, ("hearing", "seeing")
    return p


@pytest.fixture
def loopback_ice():
    ice.loopback_only(True)
    yield
    ice.loopback_only(False)


async def start(policy=None, **kw):
    persona = get_persona("tutor")
    options = PeerOptions(size=(64, 64), build=fake_build)
    server = Server(persona, None, policy or AccessPolicy.of(None, env="AGENT_TEST_NO_TOKEN"), options, **kw)
    http = TestServer(server.app, host="127.0.0.1")
    await http.start_server()
    return server, http


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


async def test_a_peer_talks_is_answered_and_leaving_ends_its_session(loopback_ice, no_leaked_tasks):
    server, http = await start()
    base = str(http.make_url("/"))
    peer = ScriptedPeer(base, user="Sam")
    try:
        await peer.connect()
        await peer.wait_for(lambda m: m["type"] == "agent", 20)  # the greeting, heard to its end
        assert USERS[-1] == "Sam"  # the name the page signed in with is whom memory keeps it for
        question = tone(1.0)
        with StepProbe(keep=10) as probe:  # media flowing both ways, a turn heard and answered
            spoke = await peer.say(question)
            user = await peer.wait_for(lambda m: m["type"] == "user", 20)
            reply = await peer.wait_for(lambda m: m["type"] == "agent" and "fraction" in m["text"], 20)
        assert user["text"] == WORDS
        assert reply["text"] == "A fraction is a part of a whole."
        assert any(m["type"] == "emotion" for m in peer.messages)
        assert peer.first_voice_after(spoke) is not None  # the reply came back as sound
        assert len(peer.video_times) > 10
        async with http_client(http) as client:
            listed = (await client.get("/api/sessions")).json()["sessions"]
            assert [s["id"] for s in listed] == [peer.id]
            one = (await client.get(f"/api/sessions/{peer.id}")).json()
        assert one["turns"] == 1 and one["frames_sent"] > 0 and one["audio_seconds_sent"] > 0
        assert {"role": "user", "text": WORDS} in one["transcript"]
        assert one["transcript"][-1]["role"] == "agent"
        # no step of the event loop took long: encoding, decoding and conversions are off it
        # (the test's own steps aside: its HTTP client loads the CA certificates)
        mine = f"task {asyncio.current_task().get_name()}"
        assert max(ms for ms, what in probe.slowest if what != mine) < 20, probe.slowest
        peer.hang_up()
        session = server.sessions.get(peer.id) or server.ended[peer.id]
        for _ in range(100):
            if session.state == "ended":
                break
            await asyncio.sleep(0.05)
        assert session.state == "ended" and session.end_reason == "the peer hung up"
    finally:
        await peer.aclose()
        await server.aclose()
        await http.close()


async def test_a_dropped_connection_ends_the_session(loopback_ice, no_leaked_tasks):
    server, http = await start()
    peer = ScriptedPeer(str(http.make_url("/")))
    try:
        await peer.connect()
        await peer.wait_for(lambda m: m["type"] == "session", 20)
        await peer.pc.close()  # no goodbye: the transport just goes
        session = server.sessions.get(peer.id) or server.ended[peer.id]
        for _ in range(100):
            if session.state == "ended":
                break
            await asyncio.sleep(0.05)
        assert session.state == "ended" and session.end_reason.startswith("connection")
        assert peer.id not in server.sessions
    finally:
        await peer.aclose()
        await server.aclose()
        await http.close()


def http_client(http):
    import httpx

    return httpx.AsyncClient(base_url=str(http.make_url("/")))


async def test_the_operator_api_follows_the_access_rule(no_leaked_tasks):
    server, http = await start()
    port = http.port
    try:
        async with http_client(http) as client:
            # a program on this machine reads
            assert (await client.get("/api/sessions")).json() == {"sessions": []}
            # the server's own page reads; another site's page is refused with one line
            own = await client.get("/api/sessions", headers={"Origin": f"http://127.0.0.1:{port}"})
            assert own.status_code == 200
            evil = await client.get("/api/sessions", headers={"Origin": "http://evil.example"})
            assert evil.status_code == 403 and "not allowed" in evil.json()["error"]
            # a site rebinding its own name onto this machine is not "the server's own page"
            rebound = await client.get("/api/sessions", headers={"Origin": f"http://evil.example:{port}",
                                                                 "Host": f"evil.example:{port}"})
            assert rebound.status_code == 403
            # a page may talk, but ending sessions needs the token (or a program on this machine)
            page_ends = await client.delete("/api/sessions/x", headers={"Origin": f"http://127.0.0.1:{port}"})
            assert page_ends.status_code == 401
            assert (await client.delete("/api/sessions/nope")).status_code == 404
            bad = await client.post("/api/offer", content=b"not json")
            assert bad.status_code == 400 and "offer" in bad.json()["error"]
            health = (await client.get("/api/health")).json()
            assert health == {"sessions": 0, "capacity": 4}
            page = await client.get("/")
            assert page.status_code == 200 and "app.js" in page.text
    finally:
        await server.aclose()
        await http.close()


async def test_a_full_server_says_so_for_the_load_balancer(loopback_ice, no_leaked_tasks):
    server, http = await start(capacity=1)
    first = ScriptedPeer(str(http.make_url("/")))
    second = ScriptedPeer(str(http.make_url("/")))
    try:
        await first.connect()
        with pytest.raises(RuntimeError, match="503 this server is full"):
            await second.connect()
    finally:
        await first.aclose()
        await second.aclose()
        await server.aclose()
        await http.close()


def test_listening_beyond_loopback_needs_a_token_and_https(tmp_path):
    open_policy = AccessPolicy.of(None, env="AGENT_TEST_NO_TOKEN")
    assert check_listen(ServeConfig(host="127.0.0.1"), open_policy) is None
    with pytest.raises(UserError, match="needs a token"):
        check_listen(ServeConfig(host="0.0.0.0"), open_policy)
    with_token = AccessPolicy.of("secret")
    with pytest.raises(UserError, match="needs HTTPS"):
        check_listen(ServeConfig(host="0.0.0.0"), with_token)
    cert, key = _self_signed(tmp_path)
    assert isinstance(check_listen(ServeConfig(host="0.0.0.0", cert=cert, key=key), with_token), ssl.SSLContext)
    with pytest.raises(UserError, match="cannot use them"):
        check_listen(ServeConfig(host="0.0.0.0", cert=key, key=cert), with_token)


def _self_signed(tmp_path):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agent.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_ice_servers_and_loopback_candidates():
    turn = ice.parse_ice_server("turn:turn.example.org:3478?transport=udp&username=u&credential=p")
    assert turn.to_dict() == {"urls": "turn:turn.example.org:3478?transport=udp", "username": "u",
                              "credential": "p"}
    assert ice.parse_ice_server("stun:stun.example.org:3478").to_dict() == {"urls": "stun:stun.example.org:3478"}
    with pytest.raises(UserError, match="needs"):
        ice.parse_ice_server("turn:turn.example.org")
    with pytest.raises(UserError, match="give stun"):
        ice.parse_ice_server("http://example.org")
    sdp = ("v=0\r\na=candidate:1 1 udp 2113937151 127.0.0.1 5000 typ host\r\n"
           "a=candidate:2 1 udp 2113937151 192.0.2.7 5001 typ host\r\n"
           "a=candidate:3 1 udp 2113937151 abcd.local 5002 typ host\r\n")
    kept = ice.keep_loopback(sdp)
    assert "127.0.0.1 5000" in kept and "192.0.2.7" not in kept and ".local" not in kept
