"""Whisper tiny.en (the bundled CTranslate2 model) on real synthesized speech: word error rate,
word timings on the input clock, and the offline rule for model names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from speech_fixtures import SENTENCES, mix, wer

from agent.core.errors import UserError
from perception.asr import WhisperAsr, resolve_model
from perception.audio_source import SAMPLE_RATE


@pytest.fixture(scope="module")
def asr() -> WhisperAsr:
    return WhisperAsr()


@pytest.mark.slow
def test_clean_sentences_are_transcribed(asr: WhisperAsr, speech) -> None:
    refs = list(SENTENCES)
    # with a breath of silence around, as the VAD's segments come (its speech padding)
    hyps = [asr.transcribe(np.pad(speech.say(s), SAMPLE_RATE // 5)).text for s in refs]
    assert wer(" ".join(refs), " ".join(hyps)) < 0.15, hyps


@pytest.mark.slow
def test_a_short_utterance_is_read_in_a_short_window(asr: WhisperAsr, speech) -> None:
    """The encoder reads 10 s for a question, not Whisper's 30 s (a third of the compute)."""
    from perception.asr import window_for

    assert window_for(3.2) == 10 and window_for(12.4) == 15 and window_for(80.0) == 30
    result = asr.transcribe(np.pad(speech.say(SENTENCES[1]), SAMPLE_RATE // 5))
    assert wer(SENTENCES[1], result.text) <= 0.15, result.text


@pytest.mark.slow
def test_noisy_speech_with_silence_around(asr: WhisperAsr, speech) -> None:
    audio = speech.say(SENTENCES[3])
    signal = mix(len(audio) / SAMPLE_RATE + 2.0, [(1.0, audio, 0.4)], noise_db=-35, seed=7)
    result = asr.transcribe(signal)
    assert wer(SENTENCES[3], result.text) <= 0.25, result.text
    assert result.duration == pytest.approx(len(signal) / SAMPLE_RATE)
    assert result.compute_s > 0 and result.rtf < 5


@pytest.mark.slow
def test_word_timings_are_on_the_input_clock(asr: WhisperAsr, speech) -> None:
    audio = speech.say("Please open the window.")
    signal = mix(len(audio) / SAMPLE_RATE + 1.5, [(0.5, audio, 0.5)], noise_db=-50)
    t0 = 12.0  # the segment started 12 s into the input
    words = asr.transcribe(signal, t0).words
    assert [w.text.strip(".,").lower() for w in words] == ["please", "open", "the", "window"]
    end = t0 + 0.5 + len(audio) / SAMPLE_RATE  # the true end of the voice on the input clock
    assert all(t0 <= w.start < w.end <= end + 0.3 for w in words)
    assert abs(words[-1].end - end) < 0.3 and words[0].end > t0 + 0.5  # Whisper may start word 1 early
    assert all(a.end <= b.start + 1e-6 for a, b in zip(words, words[1:]))


def test_a_model_name_is_not_downloaded_unless_allowed(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache: the model is not here
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as e:
        resolve_model("small.en", allow_download=False)
    assert "--allow-download" in str(e.value) and "\n" not in str(e.value)


def test_bad_names_and_paths_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown ASR model"):
        resolve_model("tiny-klingon")
    with pytest.raises(UserError, match="model.bin"):
        resolve_model(tmp_path)


def test_the_default_is_the_bundled_model() -> None:
    path, name = resolve_model(None)
    assert (Path(path) / "model.bin").is_file() and "tiny.en" in name
