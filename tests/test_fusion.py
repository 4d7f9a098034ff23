"""Fusion of face, voice and text affect: weighting, staleness, no-evidence semantics, cues."""

import pytest

from agent.core.affect import AffectEstimate
from perception.fusion import AffectFusion


def est(source, vad, conf, t, cues=""):
    return AffectEstimate(source, vad, conf, t, cues=cues)


def test_no_evidence_is_confidence_zero_not_neutral():
    f = AffectFusion()
    out = f.current(0.0)
    assert out.confidence == 0.0 and out.vad == (0.0, 0.0, 0.0) and out.label == ""
    f.update(est("face", (0.5, 0.5, 0.5), 0.0, 0.0))  # zero-confidence estimate: ignored
    assert f.current(0.0).confidence == 0.0


def test_missing_modality_does_not_pull_toward_neutral():
    f = AffectFusion()
    f.update(est("text", (-0.6, 0.2, -0.2), 0.4, 0.0, "words sound upset"))
    out = f.current(0.0)
    assert out.vad == pytest.approx((-0.6, 0.2, -0.2))
    assert out.confidence == pytest.approx(0.4)
    assert out.sources == {"text": pytest.approx(0.4)}


def test_stale_evidence_keeps_its_vad_but_loses_confidence():
    f = AffectFusion(half_life=2.0)
    f.update(est("face", (0.7, 0.3, 0.2), 0.8, 0.0))
    later = f.current(6.0)
    assert later.vad == pytest.approx((0.7, 0.3, 0.2))
    assert later.confidence == pytest.approx(0.8 / 8)


def test_confident_fresh_modality_dominates_a_stale_one():
    f = AffectFusion(half_life=2.0)
    f.update(est("face", (0.8, 0.0, 0.0), 0.9, 0.0))
    f.update(est("text", (-0.8, 0.0, 0.0), 0.9, 10.0))
    assert f.current(10.0).vad[0] < -0.7


def test_voice_weighs_more_on_arousal_than_on_valence():
    f = AffectFusion()
    f.update(est("voice", (1.0, 1.0, 0.0), 0.5, 0.0))
    f.update(est("text", (-1.0, -1.0, 0.0), 0.5, 0.0))
    v, a, _ = f.current(0.0).vad
    assert v < 0 < a


def test_cues_join_fresh_modalities_in_order():
    f = AffectFusion(half_life=1.0)
    f.update(est("text", (-0.4, 0.2, 0.0), 0.5, 0.0, "words sound upset"))
    f.update(est("voice", (0.0, -0.2, 0.0), 0.6, 0.0, "voice calm, slow"))
    f.update(est("face", (0.3, 0.1, 0.0), 0.7, 0.0, "the user smiles slightly"))
    out = f.current(0.0)
    assert out.cues == "the user smiles slightly; voice calm, slow; words sound upset"
    assert 0.7 < out.confidence < 1.0
    assert "words" not in f.current(10.0).cues  # stale: left out of the words


def test_same_source_smooths_over_time():
    f = AffectFusion(half_life=1.0)
    f.update(est("face", (1.0, 0.0, 0.0), 0.5, 0.0))
    f.update(est("face", (0.0, 0.0, 0.0), 0.5, 0.0))
    assert f.current(0.0).vad[0] == pytest.approx(0.5)


def test_bad_half_life():
    with pytest.raises(ValueError):
        AffectFusion(half_life=0)
