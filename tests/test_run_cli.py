"""`agent run` end to end with the real models: from files (the way tests and benchmarks drive
the whole system) and live with no devices (typed input, recorded), including Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

AGENT = [sys.executable, "-m", "agent.cli"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def user_wav(tmp_path_factory) -> Path:
    from agent.bench.latency import synthesize_user

    path = tmp_path_factory.mktemp("run") / "user.wav"
    synthesize_user(("Hi, can you help me with fractions?",), [7.0], path)
    return path


def streams(path: Path) -> dict[str, float]:
    import av

    out = {}
    with av.open(str(path)) as c:
        n = sum(1 for _ in c.decode(video=0))
        out["video"] = n / float(c.streams.video[0].average_rate)
    with av.open(str(path)) as c:
        out["audio"] = sum(f.samples for f in c.decode(audio=0)) / c.streams.audio[0].rate
    return out


def test_run_from_files_records_what_the_agent_showed_and_said(user_wav, tmp_path):
    out, events = tmp_path / "out.mp4", tmp_path / "events.jsonl"
    proc = subprocess.run([*AGENT, "run", "--persona", "tutor", "--llm", "embedded",
                           "--input-audio", str(user_wav), "--output", str(out),
                           "--events", str(events)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    kinds = [json.loads(line)["type"] for line in events.read_text().splitlines()]
    for k in ("UserSpeechStarted", "UserSpeechEnded", "Transcript", "EndOfTurn", "UserAffect",
              "AgentEmotion", "ReplySentence", "UtteranceStarted", "UtteranceEnded", "TurnLatency"):
        assert k in kinds, k
    transcript = next(json.loads(l) for l in events.read_text().splitlines()
                      if json.loads(l)["type"] == "Transcript")
    assert "fraction" in transcript["text"].lower()
    d = streams(out)
    assert d["video"] > 7.0  # the whole session, listening and speaking
    assert abs(d["audio"] - d["video"]) <= 1 / 30 + 0.03  # one frame (+ AAC frame padding)


def test_live_without_devices_types_records_and_stops_on_ctrl_c_within_2s(tmp_path):
    env = {**os.environ, "AGENT_RECORD_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([*AGENT, "run", "--persona", "tutor", "--llm", "embedded"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env=env, cwd=tmp_path)
    lines = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        if "Hi, I'm Ada" in line or not line:
            break
    assert any("type to the agent" in l for l in lines), "".join(lines)
    assert any("recording the session to" in l for l in lines), "".join(lines)
    time.sleep(1.0)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=30)
    stopped = time.monotonic() - start
    rest = proc.stderr.read()
    assert rc == 0, rest[-2000:]
    assert stopped < 2.0, f"Ctrl-C took {stopped:.2f}s"
    recorded = tmp_path / "session-tutor.mp4"
    d = streams(recorded)
    assert d["video"] > 0.5 and d["audio"] > 0.5
