"""``agent chat``: argument errors are one line; one JSON answer end to end with the real models."""

import json
import subprocess
import sys

import pytest

from agent.cli import main


def test_json_without_message_is_a_user_error(capsys):
    assert main(["chat", "--json"]) == 2
    assert "--json needs --message" in capsys.readouterr().err


def test_unknown_persona(capsys):
    assert main(["chat", "--persona", "nobody", "--message", "hi"]) == 2
    assert "unknown persona" in capsys.readouterr().err


@pytest.mark.slow
def test_one_message_as_json_with_transition_emotion():
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "chat", "--persona", "tutor",
         "--message", "I failed my exam again, I feel useless", "--json"],
        capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "OLLAMA_HOST": "http://127.0.0.1:9"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["reply"].strip()
    assert out["user_affect"]["vad"][0] < 0 and out["user_affect"]["confidence"] > 0
    emo = out["emotion"]
    assert set(emo) == {"label", "vad", "intensity"}
    assert emo["label"] in ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
    # the tutor (N 0.2, A 0.85) stays composed: no fear or anger at a learner's bad news
    assert emo["label"] not in ("fear", "anger", "disgust")
