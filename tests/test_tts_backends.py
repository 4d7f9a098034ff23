"""Both backends on real synthesized audio: phoneme timings tile the audio that is played, stress
is marked, cancellation stops synthesis, pitch changes keep every sample in place."""

import threading

import numpy as np
import pytest

from agent.core.errors import UserError
from agent.tts import SILENCE, Prosody
from agent.tts.pitch import f0_contour, shift_pitch

pytestmark = pytest.mark.slow

TEXT = "Hello there, how are you today? I am fine. Understanding photography requires patience."
PROSODIES = [Prosody(), Prosody(rate=1.3, pitch_semitones=4, pitch_range=1.6, volume=1.3,
                                pause_scale=0.6),
             Prosody(rate=0.7, pitch_semitones=-3, pitch_range=0.5, volume=0.7, pause_scale=2.0)]


@pytest.fixture(scope="module")
def piper():
    from agent.tts.piper import PiperTTS

    return PiperTTS()


@pytest.fixture(scope="module")
def espeak():
    from agent.tts.espeak import EspeakTTS

    return EspeakTTS("en-us")


@pytest.fixture(params=["piper", "espeak"])
def tts(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("prosody", PROSODIES, ids=["neutral", "aroused", "subdued"])
def test_timings_tile_the_audio_of_every_chunk(tts, prosody):
    chunks = list(tts.synthesize(TEXT, prosody))
    assert [c.sentence_index for c in chunks] == [0, 1, 2]
    assert all(c.last for c in chunks)
    for c in chunks:
        ph = c.phonemes
        assert c.sample_rate == tts.sample_rate and c.audio.dtype == np.float32
        assert ph[0].start == 0.0
        assert ph[-1].end == pytest.approx(c.duration, abs=1e-9)
        assert sum(p.end - p.start for p in ph) == pytest.approx(c.duration, abs=1e-9)
        assert all(a.end == pytest.approx(b.start) and a.end > a.start for a, b in zip(ph, ph[1:]))
        assert all("ˈ" not in p.phoneme and "ˌ" not in p.phoneme and p.phoneme for p in ph)
        assert any(p.stress for p in ph)
        assert np.abs(c.audio).max() <= 1.0
    assert chunks[2].text == "Understanding photography requires patience."
    words = [w.word for w in chunks[2].words]
    assert words == ["Understanding", "photography", "requires", "patience"]


def test_phoneme_timings_fall_on_the_sound(tts):
    """Speech phonemes carry the energy and pauses are quiet: timings are true to the audio."""
    c = next(iter(tts.synthesize("Well, maybe.", Prosody(pause_scale=2.0))))
    sr = c.sample_rate

    def rms(p):
        x = c.audio[int(p.start * sr):int(p.end * sr)]
        return float(np.sqrt(np.mean(x ** 2))) if len(x) else 0.0

    speech = [rms(p) for p in c.phonemes if p.phoneme != SILENCE]
    pause = [p for p in c.phonemes if p.phoneme == SILENCE and p.start > 0.05 and p.end < c.duration - 0.01]
    assert pause, "the comma gives a pause"
    assert max(rms(p) for p in pause) < 0.25 * np.median(speech)


def test_espeak_ipa_stress_and_words(espeak):
    c = next(iter(espeak.synthesize("Understanding photography.", Prosody())))
    stressed = [p.phoneme for p in c.phonemes if p.stress]
    assert stressed == ["æ", "ɑː"]
    assert [w.word for w in c.words] == ["Understanding", "photography"]
    assert c.words[0].start < c.words[1].start < c.words[1].end <= c.duration


def test_espeak_speaks_other_languages():
    from agent.tts.espeak import EspeakTTS

    c = next(iter(EspeakTTS("es").synthesize("¿Qué tal estás?", Prosody())))
    assert c.duration > 0.5
    assert {"k", "e", "t", "a", "l"} <= {p.phoneme for p in c.phonemes}


def test_espeak_unknown_voice_is_one_line():
    from agent.tts.espeak import EspeakTTS

    with pytest.raises(UserError, match="no voice 'xx-nope'.*espeak-ng --voices"):
        EspeakTTS("xx-nope")


def test_piper_missing_model_is_one_line(tmp_path):
    from agent.tts.piper import PiperTTS

    with pytest.raises(UserError, match="not found; set voice.model"):
        PiperTTS(model=tmp_path / "nope.onnx")


def test_cancel_before_and_during_synthesis(tts):
    cancel = threading.Event()
    cancel.set()
    assert list(tts.synthesize(TEXT, Prosody(), cancel)) == []
    cancel = threading.Event()
    got = []
    for chunk in tts.synthesize(TEXT, Prosody(), cancel):
        got.append(chunk)
        cancel.set()
    assert len(got) == 1


def test_psola_shift_keeps_length_and_moves_f0(piper):
    c = next(iter(piper.synthesize("I walked to the market this morning.", Prosody())))
    base = np.median(f0_contour(c.audio, c.sample_rate))
    for st in (-3.0, 4.0):
        y = shift_pitch(c.audio, c.sample_rate, st, 1.0)
        assert len(y) == len(c.audio)
        got = 12 * np.log2(np.median(f0_contour(y, c.sample_rate)) / base)
        assert got == pytest.approx(st, abs=0.8)
    wide = shift_pitch(c.audio, c.sample_rate, 0.0, 2.0)
    # the interquartile range of the semitone contour: an octave error of the tracker on one
    # frame of Piper's (sampled, so each run different) voice cannot swing it
    spread = lambda x: np.subtract(*np.percentile(12 * np.log2(f0_contour(x, c.sample_rate)), [75, 25]))  # noqa: E731
    assert spread(wide) > 1.4 * spread(c.audio)


def test_espeak_pitch_parameter_moves_f0_by_semitones(espeak):
    def median(st):
        c = next(iter(espeak.synthesize("I walked to the market this morning.",
                                         Prosody(pitch_semitones=st))))
        return np.median(f0_contour(c.audio, c.sample_rate))

    base = median(0.0)
    for st in (-3.0, 4.0):
        assert 12 * np.log2(median(st) / base) == pytest.approx(st, abs=0.8)


def test_volume_raises_loudness_without_clipping_and_backends_match(piper, espeak):
    text = "I walked down to the market this morning."

    def rms_peak(tts, volume):
        a = np.concatenate([c.audio for c in tts.synthesize(text, Prosody(volume=volume))])
        return float(np.sqrt(np.mean(a ** 2))), float(np.abs(a).max())

    for tts in (piper, espeak):
        quiet, normal, loud = (rms_peak(tts, v) for v in (0.6, 1.0, 2.0))
        assert quiet[0] < normal[0] < loud[0]
        assert loud[1] < 1.0
    ratio = rms_peak(piper, 1.0)[0] / rms_peak(espeak, 1.0)[0]
    assert 0.7 < ratio < 1.4  # one loudness whichever backend a persona uses


def test_make_tts_follows_the_persona(caplog):
    from agent.tts import make_tts
    from persona.config import Voice

    assert make_tts(Voice(backend="espeak"), "fr").voice == "fr"  # unset espeak_voice: the language
    assert make_tts(Voice(backend="espeak", espeak_voice="en-gb"), "fr").voice == "en-gb"
    tts = make_tts(Voice(backend="piper"), "de")
    assert tts.name == "piper" and "speaks English" in caplog.text
