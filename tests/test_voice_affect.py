"""Voice affect from prosody on real synthesized speech, judged against population norms that
the speaker's own baseline takes over: excited speech reads as aroused, calm speech as calm, a
naturally loud speaker is not angry, and the first utterance already gets a reading."""

from __future__ import annotations

import numpy as np
import pytest

from agent.core.affect import AffectEstimate
from perception.voice_affect import VoiceAffect, combine, prosody

LINES = ("I went to the market this morning.", "The bus was a little late again.",
         "We had soup and bread for lunch.", "Then I read a book in the garden.")


def _calibrated(speech, **voice) -> VoiceAffect:
    va = VoiceAffect()
    for line in LINES[:3]:
        va.estimate(speech.say(line, **voice), 0.0)
    return va


def test_features_follow_the_voice(speech) -> None:
    base = prosody(speech.say(LINES[0]))
    fast = prosody(speech.say(LINES[0], speed=240))
    high = prosody(speech.say(LINES[0], pitch=90))
    loud = prosody(speech.say(LINES[0], amplitude=200))
    assert base is not None and fast is not None and high is not None and loud is not None
    assert fast.rate > base.rate * 1.2
    assert high.f0 > base.f0 + 2.0  # semitones
    assert loud.loudness > base.loudness + 3.0  # dB
    assert base.voiced_s > 0.5 and 0 < base.jitter < 0.1 and base.hnr > 0


def test_excited_speech_reads_as_aroused_and_calm_as_calm(speech) -> None:
    va = _calibrated(speech)
    excited = va.estimate(speech.say(LINES[3], speed=230, pitch=85, amplitude=190), 1.0)
    assert excited.source == "voice" and excited.vad[1] > 0.25, excited
    assert "fast" in excited.cues and excited.confidence > 0.2
    va = _calibrated(speech)
    calm = va.estimate(speech.say(LINES[3], speed=110, pitch=25, amplitude=50), 1.0)
    assert calm.vad[1] < -0.15, calm
    assert calm.cues.startswith("voice calm") and "slow" in calm.cues


def test_a_naturally_loud_voice_is_not_angry(speech) -> None:
    loud = dict(amplitude=200, pitch=60)
    utterance = speech.say(LINES[3], **loud)
    own = _calibrated(speech, **loud).estimate(utterance, 1.0)
    quiet_speaker = _calibrated(speech, amplitude=60, pitch=40).estimate(utterance, 1.0)
    assert own.vad[1] < 0.3 and "loud" not in own.cues, own
    assert quiet_speaker.vad[1] > own.vad[1] + 0.3 and "loud" in quiet_speaker.cues, quiet_speaker
    first = VoiceAffect().estimate(utterance, 1.0)
    assert first.vad[1] > own.vad[1] and 0.0 < first.confidence < own.confidence  # norms only


def test_the_first_utterance_is_read_against_population_norms(speech) -> None:
    excited = VoiceAffect().estimate(speech.say(LINES[3], speed=230, pitch=85, amplitude=190), 0.0)
    calm = VoiceAffect().estimate(speech.say(LINES[3], speed=110, pitch=25, amplitude=50), 0.0)
    assert excited.confidence > 0.0 and calm.confidence > 0.0
    assert excited.vad[1] > 0.15 > -0.15 > calm.vad[1], (excited, calm)
    assert excited.cues != "voice even"


def test_silence_is_no_evidence() -> None:
    est = VoiceAffect().estimate(np.zeros(16000, np.float32), 3.0)
    assert est.confidence == 0.0 and est.t == 3.0


def test_a_classifier_is_combined_not_substituted() -> None:
    pros = AffectEstimate("voice", (0.0, 0.4, 0.1), 0.4, 1.0, "", "speaks fast")
    clf = AffectEstimate("voice", (-0.5, 0.6, 0.3), 0.6, 1.0, "anger")
    both = combine(pros, clf)
    assert both.vad[0] == pytest.approx(-0.3) and both.vad[1] == pytest.approx(0.52)
    assert both.cues == "speaks fast" and both.confidence > 0.6  # they agree on arousal
