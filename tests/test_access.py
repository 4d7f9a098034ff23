"""The one access rule for every listener (agent.core.access)."""

import pytest

from agent.core.access import AccessDenied, AccessPolicy, is_loopback


def test_a_browser_page_from_elsewhere_is_refused_at_the_handshake():
    policy = AccessPolicy.of(token="s3cret")
    with pytest.raises(AccessDenied, match="origin"):
        policy.check_connect("127.0.0.1", "http://evil.example", None)
    with pytest.raises(AccessDenied, match="origin"):  # not even with the token
        policy.check_connect("127.0.0.1", "http://evil.example", "s3cret")


def test_a_local_program_connects_and_commands_without_a_token():
    policy = AccessPolicy.of(token="s3cret")
    policy.check_connect("127.0.0.1", None, None)
    assert policy.may_command("127.0.0.1", None, None)
    assert policy.may_command("::1", None, None)


def test_anything_else_needs_the_token_to_command():
    policy = AccessPolicy.of(token="s3cret", origins=["http://localhost:8080/"])
    policy.check_connect("127.0.0.1", "http://localhost:8080", None)  # a trusted page may watch
    assert not policy.may_command("127.0.0.1", "http://localhost:8080", None)
    assert policy.may_command("127.0.0.1", "http://localhost:8080", "s3cret")
    with pytest.raises(AccessDenied) as e:
        policy.check_connect("192.168.1.20", None, "wrong")
    assert e.value.status == 401
    policy.check_connect("192.168.1.20", None, "s3cret")
    assert not AccessPolicy.of().may_command("192.168.1.20", None, None)


def test_listening_beyond_loopback_needs_a_token(monkeypatch):
    monkeypatch.delenv("AGENT_TOKEN", raising=False)
    AccessPolicy.of().check_bind("127.0.0.1")
    with pytest.raises(AccessDenied, match="token"):
        AccessPolicy.of().check_bind("0.0.0.0")
    AccessPolicy.of(token="x").check_bind("0.0.0.0")
    assert is_loopback("localhost") and is_loopback("[::1]") and not is_loopback("example.com")
