"""``agent perceive``: the timeline of what was heard in a file, as a table or JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf
from speech_fixtures import mix, wer

from agent.cli import main
from perception.audio_source import SAMPLE_RATE

LINES = ("Good morning, how are you today?", "I would like a cup of tea.")


@pytest.fixture(scope="module")
def recording(speech, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sentences with silence and noise around, as a 44.1 kHz stereo mp3 (or wav)."""
    a, b = speech.say(LINES[0]), speech.say(LINES[1])
    t_b = 0.8 + len(a) / SAMPLE_RATE + 1.2
    audio = mix(t_b + len(b) / SAMPLE_RATE + 1.0, [(0.8, a, 0.5), (t_b, b, 0.5)], noise_db=-45)
    out = tmp_path_factory.mktemp("perceive")
    wav = out / "talk.wav"
    sf.write(wav, audio, SAMPLE_RATE)
    if shutil.which("ffmpeg") is None:
        return wav
    mp3 = out / "talk.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-ar", "44100", "-ac", "2", str(mp3)],
                   check=True)
    return mp3


@pytest.mark.slow
def test_json_timeline(recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["perceive", "--input-audio", str(recording), "--json"]) == 0
    segments = json.loads(capsys.readouterr().out)["audio"]
    assert len(segments) == 2
    for seg, line in zip(segments, LINES):
        assert seg["start"] < seg["speech"][0] < seg["speech"][1] <= seg["end"]
        assert wer(line, seg["text"]) < 0.3, seg["text"]
        assert 0.5 < seg["vad_confidence"] <= 1.0
        assert seg["words"] and seg["words"][0][1] >= seg["start"] - 0.05  # times on the file's clock
        affect = seg["voice_affect"]
        assert len(affect["vad"]) == 3 and 0.0 <= affect["confidence"] <= 1.0 and affect["cues"]
    assert segments[0]["end"] < segments[1]["start"]


@pytest.mark.slow
def test_table(recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["perceive", "--input-audio", str(recording)]) == 0
    out = capsys.readouterr().out
    assert out.count("voice: V") == 2 and "tea" in out.lower()


def test_nothing_to_perceive_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["perceive"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--input-audio" in err and len(err.splitlines()) == 1


def test_missing_file_and_undownloaded_model_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["perceive", "--input-audio", str(tmp_path / "none.wav")]) == 2
    assert "no such file" in capsys.readouterr().err
    wav = tmp_path / "x.wav"
    sf.write(wav, [0.0] * 1600, SAMPLE_RATE)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert main(["perceive", "--input-audio", str(wav), "--asr-model", "small.en"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--allow-download" in err[0]
