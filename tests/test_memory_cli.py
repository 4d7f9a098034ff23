"""``agent memory show|forget|export``, and the issue's acceptance run: two ``agent chat``
processes, the second recalling the first; ``forget`` erases it from the file's bytes; a persona
with ``memory: false`` remembers nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from agent.cli import main
from agent.memory.store import Draft, MemoryStore

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def memory_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_MEMORY_DIR", str(tmp_path))
    return tmp_path


def _file_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.glob("memory.sqlite3*")))


def _populate(folder: Path) -> None:
    v = np.zeros(384, np.float32)
    store = MemoryStore(folder / "memory.sqlite3")
    facts = [Draft("event", "The user has a chemistry exam on Friday.", "chemistry exam", "I have a chemistry exam", v),
             Draft("name", "The user's name is Sam.", "Sam", "My name is Sam", v)]
    sid = store.record_turn("sam", "tutor", None, ((-0.3, 0.2, 0.0), 0.7), facts)
    store.end_session(sid, "Sam said: “I have a chemistry exam on Friday.”", v)
    store.record_turn("ana", "coach", None, None, [Draft("about", "The user plays the violin.", None, "I play", v)])
    store.close()


def test_a_bad_user_name_is_one_line(memory_dir, capsys):
    assert main(["memory", "show", "--user", " "]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agent: --user:") and err.count("\n") == 1


def test_a_stranger_has_no_memories(memory_dir, capsys):
    assert main(["memory", "show", "--user", "nobody"]) == 0
    assert capsys.readouterr().out.startswith(f"nothing remembered of nobody (database: {memory_dir}")
    assert main(["memory", "show", "--user", "nobody", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["facts"], out["sessions"]) == ([], [])


def test_show_export_and_forget(memory_dir, capsys):
    _populate(memory_dir)
    assert main(["memory", "show", "--user", "Sam"]) == 0
    out = capsys.readouterr().out
    assert str(memory_dir / "memory.sqlite3") in out
    assert "[event] The user has a chemistry exam on Friday." in out and "with tutor, 1 turn(s)" in out

    assert main(["memory", "show", "--user", "sam", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert sorted(f["value"] for f in shown["facts"]) == ["Sam", "chemistry exam"]
    assert shown["sessions"][0]["affect"]["vad"] == [-0.3, 0.2, 0.0]

    assert main(["memory", "export", "--user", "sam"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["sessions"][0]["readings"][0]["confidence"] == 0.7
    assert {f["from"] for f in exported["facts"]} == {"I have a chemistry exam", "My name is Sam"}

    assert main(["memory", "forget", "--user", "sam"]) == 0
    assert capsys.readouterr().out.startswith("forgot sam: 2 fact(s), 1 session(s)")
    assert main(["memory", "show", "--user", "sam", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert (after["facts"], after["sessions"]) == ([], [])
    data = _file_bytes(memory_dir)
    assert b"chemistry" not in data and b"violin" in data  # ana is still remembered

    assert main(["memory", "forget", "--user", "sam"]) == 0
    assert capsys.readouterr().out.startswith("nothing remembered of sam")


@pytest.mark.slow
def test_two_chat_processes_remember_and_forget_erases_it_from_the_file(tmp_path):
    env = {**os.environ, "AGENT_MEMORY_DIR": str(tmp_path), "OLLAMA_HOST": "http://127.0.0.1:9"}

    def agent(*args: str) -> dict:
        proc = subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout)

    first = agent("chat", "--persona", "tutor", "--user", "sam", "--message",
                  "My name is Sam and I have a chemistry exam on Friday.", "--json")
    assert first["memories"] == [] and first["reply"].strip()
    second = agent("chat", "--persona", "tutor", "--user", "sam", "--message",
                   "What do you remember about my exam?", "--json")
    assert any("chemistry" in m for m in second["memories"]), second["memories"]
    shown = agent("memory", "show", "--user", "sam", "--json")
    assert any("chemistry" in f["text"] for f in shown["facts"])
    assert len(shown["sessions"]) == 2 and all(s["affect"]["vad"] for s in shown["sessions"])
    assert b"chemistry" in _file_bytes(tmp_path)

    gone = agent("memory", "forget", "--user", "sam", "--json")
    assert gone["facts"] >= 2 and gone["left_in_file"] == 0
    shown = agent("memory", "show", "--user", "sam", "--json")
    assert (shown["facts"], shown["sessions"]) == ([], [])
    assert b"chemistry" not in _file_bytes(tmp_path)

    config = yaml.safe_load((ROOT / "personas.yaml").read_text(encoding="utf-8"))
    config["personas"]["tutor"]["memory"] = False
    (tmp_path / "personas.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    off = agent("chat", "--persona", "tutor", "--config", str(tmp_path / "personas.yaml"), "--user", "sam",
                "--message", "I have a biology exam on Monday.", "--json")
    assert off["memories"] == []
    assert agent("memory", "show", "--user", "sam", "--json")["facts"] == []
