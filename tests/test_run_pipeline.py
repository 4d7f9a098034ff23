"""Regressions of ``agent run`` wired the way a user runs it: each through the real file-driven
(or typed) command and its ``--events`` log, with the real models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

AGENT = [sys.executable, "-m", "agent.cli"]
pytestmark = pytest.mark.slow


def run(args: list[str], tmp_path: Path, stdin: str | None = None, timeout: int = 300) -> list[dict]:
    events = tmp_path / "events.jsonl"
    proc = subprocess.run([*AGENT, "run", "--llm", "embedded", "--events", str(events), *args],
                          input=stdin, capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                          env={**__import__("os").environ, "AGENT_RECORD_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]


def of(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]


def spoken(tmp_path: Path, lines: list[tuple[str, str]], gap: float = 9.0) -> Path:
    """The user's side: each (text, espeak voice) then ``gap`` seconds of room for the reply."""
    import soundfile as sf

    from agent.bench.speech import espeak, mix
    from perception.audio_source import SAMPLE_RATE

    parts, t = [], 0.8
    for text, voice in lines:
        audio = espeak(text, voice=voice)
        parts.append((t, audio, 0.5))
        t += len(audio) / SAMPLE_RATE + gap
    path = tmp_path / "user.wav"
    sf.write(path, mix(t, parts, noise_db=-50, seed=1), SAMPLE_RATE)
    return path


def test_the_fused_user_affect_follows_the_words(tmp_path):
    """Bug: ``agent run`` never fused the words' affect (the two readings below were -0.048 and
    -0.058: the words changed nothing). Same flat voice, so only the words differ."""
    wav = spoken(tmp_path, [("I failed my exam again, I feel useless and miserable.", "en-us"),
                            ("I passed my exam! I am so happy and proud of myself.", "en-us")])
    events = run(["--persona", "tutor", "--input-audio", str(wav)], tmp_path)
    sad, happy = (e["vad"][0] for e in of(events, "UserAffect"))
    assert sad < 0.0, sad
    assert happy >= sad + 0.15, (sad, happy)
    texts = [e for e in of(events, "AffectEstimated") if e["source"] == "text"]
    assert len(texts) == 2 and texts[0]["vad"][0] < 0 < texts[1]["vad"][0]


def test_the_gaze_stays_on_a_present_user_while_face_affect_arrives(tmp_path):
    """Bug: every face-affect event (four a second) told the animator there was no face."""
    sys.path.insert(0, str(Path(__file__).parent))
    import face_fixtures as F

    face = F.scene([(F.face_tile(F.astronaut(), F.ASTRONAUT_FACE, 0.4), 420, 220, 280)])
    clip = F.write_clip(tmp_path / "user.mp4", [face] * 40, fps=10)
    events = run(["--persona", "tutor", "--input-video", str(clip)], tmp_path)
    presence = of(events, "UserPresence")
    assert presence and presence[0]["present"], presence
    faces = [e for e in of(events, "AffectEstimated") if e["source"] == "face"]
    assert len(faces) >= 8  # face affect kept coming ...
    gaze = of(events, "AgentGaze")
    assert gaze and all(g["target"] is not None for g in gaze), gaze  # ... and it kept looking at them
    assert gaze[0]["target"][0] > 0.1  # the face is right of centre in the image


def test_a_spanish_persona_hears_thinks_and_speaks_spanish(tmp_path):
    """Bug: ``profesora`` got an English few-shot transcript and English-only hearing (tiny.en)."""
    wav = spoken(tmp_path, [("Hola, ¿puedes ayudarme con los verbos en pasado?", "es")])
    events = run(["--persona", "profesora", "--input-audio", str(wav)], tmp_path)
    (started,) = of(events, "SessionStarted")
    assert started["language"] == "es"
    stages = started["stages"]
    assert "multilingual" in stages["asr"] and stages["tts"] == "espeak es", stages
    assert stages["llm"].endswith("(few-shot in es)"), stages
    (transcript,) = of(events, "Transcript")
    assert transcript["language"] == "es" and "hola" in transcript["text"].lower(), transcript
    (prompt,) = of(events, "Prompt")
    assert prompt["messages"][0][1].startswith("Eres Lucía")
    assert of(events, "ReplySentence")


def test_the_greeting_is_in_the_history(tmp_path):
    """Bug: the greeting was spoken but the LLM never saw it (``chat`` had it, ``run`` not)."""
    import os
    import time

    from persona.config import get_persona

    greeting = get_persona("tutor").greeting
    events_path = tmp_path / "events.jsonl"
    proc = subprocess.Popen([*AGENT, "run", "--llm", "embedded", "--events", str(events_path), "--persona",
                             "tutor", "--no-microphone", "--no-virtual-camera", "--no-window"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            cwd=tmp_path, env={**os.environ, "AGENT_RECORD_DIR": str(tmp_path)})
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and greeting not in (line := proc.stderr.readline()):
        assert line, "the agent ended before greeting"
    time.sleep(4.0)  # the greeting is heard to the end
    proc.communicate("Can you help me with fractions?\n", timeout=240)
    assert proc.returncode == 0
    events = [json.loads(line) for line in events_path.read_text(encoding="utf-8").splitlines()]
    (prompt,) = of(events, "Prompt")
    spoken = [m for m in prompt["messages"][1:] if m[0] != "system"]  # the turn's note left out
    assert spoken == [["assistant", greeting], ["user", "Can you help me with fractions?"]]


def test_a_model_that_needs_a_download_says_how_in_one_line(tmp_path):
    proc = subprocess.run([*AGENT, "run", "--asr-model", "small.en", "--input-audio",
                           str(spoken(tmp_path, [("Hello.", "en-us")], gap=1.0))],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    err = [line for line in proc.stderr.splitlines() if line.startswith("agent:") and "small.en" in line]
    assert len(err) == 1 and "--allow-download" in err[0], proc.stderr[-2000:]
    assert "--allow-download" in subprocess.run([*AGENT, "run", "--help"], capture_output=True,
                                                text=True).stdout


def test_no_step_of_a_file_driven_session_blocks_the_loop(tmp_path):
    """Every model call and encode runs off the loop: no handler, callback or task step of a
    whole ``agent run`` from files (two spoken turns, real models, a recording) holds the loop
    for more than 20 ms of CPU."""
    import asyncio

    from agent.bench.latency import synthesize_user
    from agent.core.bus import EventBus
    from agent.pipeline import PipelineOptions, build_pipeline
    from agent.session import Session
    from agent.testing import StepProbe
    from persona.config import get_persona

    wav = tmp_path / "user.wav"
    synthesize_user(("Hi, can you help me with fractions?", "I failed my exam again and I feel useless."),
                    [7.0, 7.0], wav)

    async def main() -> tuple[StepProbe, object]:
        bus = EventBus()
        opts = PipelineOptions(input_audio=wav, output=tmp_path / "out.mp4", llm_backend="embedded")
        pipeline = await build_pipeline(get_persona("tutor"), opts, bus, progress=lambda text: None)
        async with pipeline:
            with StepProbe() as probe:
                report = await Session(pipeline, bus=bus, say=lambda s: None).run()
        return probe, report

    probe, report = asyncio.run(main())
    assert len(report.turns) == 2
    assert probe.worst_ms <= 20.0, probe.slowest
    assert report.loop_lag_ms and not report.stalls
