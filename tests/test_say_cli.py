"""``agent say`` end to end: real voices to a .wav whose timings match its samples, and one-line
errors for bad input."""

import json
import sys

import numpy as np
import pytest
import soundfile

from agent.cli import main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("persona,emotion", [("tutor", "joy"), ("critic", "-0.5,-0.3,0.2"),
                                             ("profesora", "sadness:0.6")])
def test_say_writes_a_wav_and_its_timings(tmp_path, capsys, persona, emotion):
    wav, timings = tmp_path / "out.wav", tmp_path / "t.json"
    text = "Hola, ¿qué tal? Vamos a empezar." if persona == "profesora" else \
        "Hello there. Let's look at fractions together, one step at a time."
    code = main(["say", "--persona", persona, "--text", text, f"--emotion={emotion}",
                 "--output", str(wav), "--timings", str(timings)])
    assert code == 0
    assert f"wrote {wav}" in capsys.readouterr().out
    audio, sr = soundfile.read(wav, dtype="float32")
    doc = json.loads(timings.read_text())
    assert len(audio) / sr == pytest.approx(doc["duration"], abs=1e-4)
    assert doc["phonemes"][-1]["end"] == pytest.approx(doc["duration"], abs=1e-4)
    assert np.sqrt(np.mean(audio ** 2)) > 0.01  # there is speech in it
    starts = [p["start"] for p in doc["phonemes"]]
    assert starts == sorted(starts)


def test_say_rejects_bad_input_in_one_line(tmp_path, capsys):
    assert main(["say", "--text", "Hi.", "--emotion", "happy", "-o", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("agent: --emotion: unknown emotion 'happy'") and "\n" not in err
    assert main(["say", "--text", "Hi.", "-o", str(tmp_path / "x.mp3")]) == 2
    assert "write a .wav or an .mp4" in capsys.readouterr().err
    assert main(["say", "--text", "  ", "-o", str(tmp_path / "x.wav")]) == 2
    assert "--text is empty" in capsys.readouterr().err


def test_mp4_without_the_renderer_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "render.clip", None)  # as if the renderer were not installed
    assert main(["say", "--persona", "critic", "--text", "Fine.", "-o", str(tmp_path / "x.mp4")]) == 2
    assert "needs the face renderer (render.clip)" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()
