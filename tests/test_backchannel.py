"""The backchannel head: its arithmetic and operating point, the shipped weights, and what it
makes of real onsets heard through Whisper (the Piper voice, which it never heard in training)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.turn_taking import onset_look
from agent.turns import Look
from perception.backchannel import ACK_WORDS, OPENERS, BackchannelHead, OnsetJudge, onset_features, word_logprobs
from persona.heads import HEADS_DIR

D = 384  # Whisper tiny's encoder width


def _head(n: int, w1: np.ndarray, w2: np.ndarray, b2: float = 0.0) -> BackchannelHead:
    return BackchannelHead({"mean": np.zeros(n, np.float32), "scale": np.ones(n, np.float32), "w1": w1,
                            "b1": np.zeros(w1.shape[1], np.float32), "w2": w2, "b2": np.float32(b2),
                            "width": np.int32(0), "hold_above": np.float32(0.8), "pause_below": np.float32(0.2),
                            "decide_by": np.float32(0.24)})


def test_probability_is_the_networks_logistic_output() -> None:
    from persona.heads import gelu

    head = _head(2, np.eye(2, dtype=np.float32), np.array([2.0, -1.0], np.float32), b2=0.5)
    x = np.array([1.0, 3.0])
    z = 2.0 * gelu(np.array(1.0)) - gelu(np.array(3.0)) + 0.5
    assert head.probability(x) == pytest.approx(1 / (1 + np.exp(-z)), rel=1e-5)
    assert head.probability(np.array([1e6, 0.0])) == pytest.approx(1.0)  # no overflow


def test_verdicts_talk_on_pause_or_look_again_and_never_take_the_turn() -> None:
    head = _head(1, np.ones((1, 1), np.float32), np.ones(1, np.float32))
    early, last = 0.18, 0.22  # the next look, a frame on, would be past the deadline (0.24)
    assert onset_look(head, 0.9, early) is Look.ACK
    assert onset_look(head, 0.1, early) is Look.UNSURE  # clearly not an acknowledgement: pause now
    assert onset_look(head, 0.6, early) is Look.NOT_YET and onset_look(head, 0.4, early) is Look.NOT_YET
    assert onset_look(head, 0.6, last) is Look.UNSURE and onset_look(head, 0.9, last) is Look.ACK
    assert all(onset_look(head, p, t, hum) is not Look.TURN
               for p in np.linspace(0, 1, 21) for t in (early, last) for hum in (False, True))
    # a murmur is an acknowledgement, unless the head is sure it is not one
    assert onset_look(head, 0.6, early, hum=True) is Look.ACK and onset_look(head, 0.1, early, hum=True) is Look.UNSURE


def test_features_pool_the_frames_and_read_both_word_lists() -> None:
    frames = np.arange(8 * D, dtype=np.float32).reshape(8, D)
    logprobs = np.log(np.full(100, 0.01, np.float32))
    words = word_logprobs(logprobs, [1, 2, 3], [4, 5])
    assert words.shape == (3 + 2 + 2,)
    assert words[-2] == pytest.approx(np.log(0.03), abs=1e-5)  # the acknowledgements' total
    assert words[-1] == pytest.approx(np.log(0.01), abs=1e-5)
    x = onset_features(frames, words)
    assert x.shape == (3 * D + 7,)
    assert np.allclose(x[:D], frames.mean(0)) and np.allclose(x[D:2 * D], frames.max(0))
    assert np.allclose(x[2 * D:3 * D], frames[-5:].mean(0))  # the last 100 ms


def test_the_shipped_head_fits_the_features_and_says_how_it_was_made() -> None:
    head = BackchannelHead()
    n = 3 * D + len(ACK_WORDS) + len(OPENERS) + 2
    assert head.w1.shape[0] == n and head.mean.shape == (n,) and np.all(head.scale > 0)
    assert head.width == D and head.w2.shape == (head.w1.shape[1],)
    assert 0.5 <= head.hold_above <= 1.0 and 0.0 <= head.pause_below <= 0.5 and 0.1 <= head.decide_by <= 0.3
    meta = json.loads((HEADS_DIR / "backchannel.json").read_text())
    assert meta["features"] == n and meta["held_out_variants"] and meta["piper_test"]


@pytest.mark.slow
def test_real_onsets_through_whisper() -> None:
    from agent.bench.speech import PiperLines
    from perception.asr import WhisperAsr
    from perception.audio_source import FRAME, SAMPLE_RATE

    judge = OnsetJudge(WhisperAsr())
    piper = PiperLines()

    def p(text: str) -> float:  # one frame before the onset, then 250 ms of it
        audio = piper.say(text)[: int(0.25 * SAMPLE_RATE)]
        return judge.probability(np.concatenate([np.zeros(FRAME, np.float32), audio]))

    acks = [p(w) for w in ("yeah", "okay", "right")]
    turns = [p(w) for w in ("Wait, stop, I have a question.", "No, that's wrong.", "What do you mean?")]
    assert min(acks) > max(turns), (acks, turns)
