"""The user's side of turn-taking, as tables: end of turn from silence plus words, and barge-in
with backchannels held. Times are on the input clock (seconds)."""

from __future__ import annotations

import pytest

from agent.turns import (
    BargeAction,
    BargeIn,
    BargeState,
    EndOfTurnDetector,
    EotState,
    Look,
    TurnConfig,
    is_backchannel,
    sentence_finished,
)

FRAME = 0.032


@pytest.mark.parametrize("text,finished", [
    ("Can you help me?", True),
    ("I went to the shop.", True),
    ("Stop!", True),
    ("So I was thinking that", False),
    ("I went to the shop and.", False),  # Whisper's full stop after a fragment
    ("Well, um.", False),
    ("Because...", False),
    ("and then,", False),
    ("", False),
])
def test_sentence_finished(text: str, finished: bool) -> None:
    assert sentence_finished(text) is finished


@pytest.mark.parametrize("text,ack", [
    ("Uh-huh.", True), ("Mm-hmm.", True), ("MMHM.", True), ("yeah", True), ("Yeah, yeah.", True),
    ("Okay.", True), ("I see.", True), ("", True), ("I see. I see. I", True), ("Got it. Got it.", True),
    ("Wait.", False), ("Yeah, but what about the engine?", False), ("No.", False), ("Um, actually", False),
])
def test_backchannels(text: str, ack: bool) -> None:
    assert is_backchannel(text) is ack


# ---------------------------------------------------------------- end of turn

# (script of (input, time, text)), expected decisions [(text, decided_at)]
EOT_CASES = {
    "question ends after the short silence": (
        [("start", 1.0, ""), ("end", 2.0, ""), ("words", 2.26, "Can you help me?")],
        [("Can you help me?", 2.26)]),
    "a fragment waits for the long silence": (
        [("start", 1.0, ""), ("end", 2.0, ""), ("words", 2.26, "So I was thinking that"),
         ("tick", 2.5, ""), ("tick", 2.69, ""), ("tick", 2.70, "")],
        [("So I was thinking that", 2.70)]),
    "speech resumes in time: one turn": (
        [("start", 1.0, ""), ("end", 2.0, ""), ("words", 2.26, "So I was thinking that"),
         ("tick", 2.5, ""), ("start", 2.55, ""), ("end", 3.5, ""), ("words", 3.76, "we could go out."),
         ("tick", 3.8, "")],
        [("So I was thinking that we could go out.", 3.76)]),
    "noise with no words is no turn": (
        [("start", 1.0, ""), ("end", 1.2, ""), ("words", 1.46, ""), ("tick", 5.0, "")],
        []),
    "slow transcript: decided when the words come": (
        [("start", 1.0, ""), ("end", 2.0, ""), ("tick", 3.0, ""), ("words", 3.1, "Hello there.")],
        [("Hello there.", 3.1)]),
}


@pytest.mark.parametrize("name", list(EOT_CASES))
def test_end_of_turn(name: str) -> None:
    script, expected = EOT_CASES[name]
    eot = EndOfTurnDetector(TurnConfig(finished_silence=0.25, unfinished_silence=0.7))
    got = []
    for what, t, text in script:
        d = {"start": lambda t=t: eot.speech_started(t), "end": lambda t=t: eot.speech_ended(t),
             "words": lambda t=t, text=text: eot.transcript(text, t), "tick": lambda t=t: eot.tick(t)}[what]()
        if d is not None:
            got.append((d.text, round(d.decided_at, 3)))
            assert d.audio_end_t <= d.decided_at
    assert got == expected
    assert eot.state is EotState.IDLE or not expected


def test_end_of_turn_carries_the_speech_end() -> None:
    eot = EndOfTurnDetector()
    eot.speech_started(0.5)
    eot.speech_ended(1.7)
    d = eot.transcript("Is it raining?", 1.96)
    assert d is not None and d.audio_end_t == 1.7 and d.finished


# ---------------------------------------------------------------- barge-in


def _frames(barge: BargeIn, pattern: str, t0: float = 0.0) -> list[tuple[float, BargeAction]]:
    """Feed '#' (user speech) / '.' (none) / 'm' (speech the echo gate was unsure of) frames;
    returns the actions with their frame end."""
    out = []
    for i, c in enumerate(pattern):
        t = t0 + i * FRAME
        a = barge.frame(t, t + FRAME, c == "#", masked=c == "m")
        if a is not BargeAction.NONE:
            out.append((round(t + FRAME, 3), a))
    return out


def test_sustained_speech_fires_without_a_word_check() -> None:
    b = BargeIn(TurnConfig(barge_in=0.18), can_check=False)
    acts = _frames(b, "...######")
    assert acts == [(0.288, BargeAction.FIRE)]  # onset 0.096 + 6 frames = 192 ms later
    assert acts[0][0] - 0.096 < 0.3 and b.state is BargeState.FIRED


def test_a_short_burst_never_fires() -> None:
    b = BargeIn(TurnConfig(barge_in=0.18), can_check=False)  # bursts further apart than barge_in_gap
    assert _frames(b, "..###.......###.......") == []
    assert b.state is BargeState.QUIET


def test_dips_between_syllables_keep_the_onset() -> None:
    b = BargeIn(TurnConfig(barge_in=0.18, barge_in_gap=0.13), can_check=False)
    acts = _frames(b, "###..###")
    assert acts and acts[0][1] is BargeAction.FIRE and b.onset == 0.0


def test_words_decide_backchannel_or_speech() -> None:
    cfg = TurnConfig(barge_in=0.18, held_recheck=0.3, backchannel_max=1.0)
    speech = BargeIn(cfg)
    assert _frames(speech, "######") == [(0.192, BargeAction.CHECK)]
    assert speech.resolve(Look.TURN, 0.192) is BargeAction.FIRE

    ack = BargeIn(cfg)
    _frames(ack, "######")
    assert ack.resolve(Look.ACK, 0.192) is BargeAction.NONE and ack.state is BargeState.HELD
    assert _frames(ack, "." * 12, 0.192) == [] and ack.state is BargeState.QUIET  # "uh-huh" over


def test_a_held_backchannel_that_goes_on_is_checked_again_then_fires() -> None:
    cfg = TurnConfig(barge_in=0.18, held_recheck=0.3, backchannel_max=1.0)
    b = BargeIn(cfg)
    _frames(b, "######")
    b.resolve(Look.ACK, 0.192)
    acts = _frames(b, "##...##########", 0.192)  # "yeah, ... but I think"
    assert acts and acts[0][1] is BargeAction.CHECK  # what follows the acknowledgement is looked at
    assert b.resolve(Look.TURN, acts[0][0]) is BargeAction.FIRE


def test_blank_words_are_looked_at_once_more_then_held() -> None:
    b = BargeIn(TurnConfig(barge_in=0.18, recheck=0.15))
    _frames(b, "######")
    assert b.resolve(Look.NOT_YET, 0.192) is BargeAction.NONE and b.state is BargeState.ONSET
    acts = _frames(b, "#####", 0.192)
    assert acts == [(0.352, BargeAction.CHECK)]
    assert b.resolve(Look.NOT_YET, 0.352) is BargeAction.NONE and b.state is BargeState.HELD  # a hum


def test_held_speech_past_the_limit_fires_without_words() -> None:
    b = BargeIn(TurnConfig(barge_in=0.18, backchannel_max=0.5, held_recheck=5.0, held_pause_after=9.0))
    _frames(b, "######")
    b.resolve(Look.ACK, 0.192)
    acts = _frames(b, "##########", 0.192)
    assert acts and acts[0][1] is BargeAction.FIRE and acts[0][0] >= 0.5


def test_fired_stays_until_the_agent_stops() -> None:
    b = BargeIn(TurnConfig(barge_in=0.1), can_check=False)
    assert _frames(b, "####")
    assert _frames(b, "########", 1.0) == []
    b.reset()
    assert _frames(b, "####", 2.0)


def test_nothing_telling_is_looked_at_each_frame_until_decide_by() -> None:
    b = BargeIn(TurnConfig(barge_in=0.18, recheck=0.032, decide_by=0.26))
    _frames(b, "######")
    looks = [0.192]
    while b.resolve(Look.NOT_YET, looks[-1]) is BargeAction.NONE and b.state is BargeState.ONSET:
        acts = _frames(b, "#", looks[-1])
        looks.append(acts[0][0])
    assert looks == [0.192, 0.224, 0.256] and b.state is BargeState.HELD  # a hum by 256 ms


def test_a_short_word_is_looked_at_when_it_ends() -> None:
    b = BargeIn(TurnConfig(barge_in=0.18, word_min=0.128))
    assert _frames(b, "####.") == [(0.16, BargeAction.CHECK)]  # "Wait," then a pause
    assert b.resolve(Look.TURN, 0.16) is BargeAction.FIRE
    short = BargeIn(TurnConfig(barge_in=0.18, word_min=0.128))
    assert _frames(short, "##.....") == []  # a click


def test_an_onset_the_gate_half_loses_is_looked_at_on_time() -> None:
    b = BargeIn(TurnConfig(barge_in=0.18, word_min=0.128, dip_look_voiced=0.09))
    # "Let me" under loud echo: the "e" heard, the "t" and the "m" lost; looked at when due
    assert _frames(b, "###....") == [(0.192, BargeAction.CHECK)]
    assert _frames(BargeIn(TurnConfig(barge_in=0.18, dip_look_voiced=0.09)), "##.....") == []  # a click
    # "Can you": the "n" and "y" under the loudest echo, what is left of them more than echo leaves
    # ... looked at on time, but only a clear turn is decided on so little (``ahead``)
    masked = BargeIn(TurnConfig(barge_in=0.18, dip_look_voiced=0.09))
    assert _frames(masked, "##mmmm.") == [(0.192, BargeAction.CHECK)] and masked.ahead
    assert _frames(BargeIn(TurnConfig(barge_in=0.18, dip_look_voiced=0.09)), "##mm.....") == []  # gone by then


def test_onset_verdicts() -> None:
    from agent.turns import onset_verdict

    assert onset_verdict("Sorry. Sorry. Sorry.") is False
    assert onset_verdict("Yeah. Yeah. Yeah.") is True and onset_verdict("right right right right") is True
    assert onset_verdict("and then") is None and onset_verdict("Thank you.") is None
    assert onset_verdict("Thank you. Thank you.") is None and onset_verdict("I see I see I see") is True
    assert onset_verdict("") is None and onset_verdict("So") is False


def test_a_question_or_a_stop_word_calls_to_stop() -> None:
    from agent.turns import calls_to_stop

    assert calls_to_stop("Wait.") and calls_to_stop("Sorry") and calls_to_stop("Can I? Can I")
    assert calls_to_stop("Do you") and calls_to_stop("Is that so")
    assert not calls_to_stop("Yeah. Yeah.") and not calls_to_stop("Okay?") and not calls_to_stop("and I")
    assert not calls_to_stop("")


def test_what_follows_a_held_acknowledgement() -> None:
    from agent.turns import held_look

    # not an acknowledgement: the agent pauses, and the whole utterance's words decide
    assert held_look("but I think") is Look.UNSURE and held_look("Wait.") is Look.UNSURE
    assert held_look("Do do do do do") is Look.UNSURE
    assert held_look("yeah") is Look.ACK and held_look("") is Look.NOT_YET


def test_unsure_at_the_deadline_pauses_and_the_words_decide() -> None:
    cfg = TurnConfig(barge_in=0.18, backchannel_max=1.0)
    ack = BargeIn(cfg)
    _frames(ack, "######")
    assert ack.resolve(Look.UNSURE, 0.192) is BargeAction.PAUSE and ack.state is BargeState.PAUSED
    assert _frames(ack, "####......", 0.192) == []  # quiet while the words are awaited
    assert ack.words("Uh-huh.", 0.4) is BargeAction.RESUME and ack.state is BargeState.QUIET

    turn = BargeIn(cfg)
    _frames(turn, "######")
    turn.resolve(Look.UNSURE, 0.192)
    assert turn.words("Okay, but why?", 0.9) is BargeAction.FIRE and turn.state is BargeState.FIRED
    assert turn.words("yeah", 0.3) is BargeAction.NONE  # decided already


@pytest.mark.parametrize("text,duration,goes_on", [
    ("", 0.3, True), ("Uh.", 0.3, True), ("Yeah. Yeah.", 0.4, True), ("Got.", 0.25, True),
    ("Wait.", 0.3, False), ("No.", 0.2, False), ("What?", 0.3, False), ("Really?", 0.4, False),
    ("Got.", 0.8, False), ("I see what you mean", 1.0, False), ("Hold on.", 0.5, False),
    ("I'm going to be", 0.224, True), ("I'm not.", 0.192, True),  # too short to be a turn
    ("No, wait.", 0.4, False), ("Wait, what do you", 0.2, False), ("So, I'm sorry.", 0.384, False),
    ("Let me stop you there. Let me stop", 1.088, False), ("I think so", 0.4, False),
])
def test_the_words_of_a_paused_utterance(text: str, duration: float, goes_on: bool) -> None:
    b = BargeIn(TurnConfig(barge_in=0.18))
    _frames(b, "######")
    b.resolve(Look.UNSURE, 0.192)
    assert (b.words(text, duration) is BargeAction.RESUME) is goes_on


def test_a_paused_utterance_that_goes_on_takes_the_turn() -> None:
    b = BargeIn(TurnConfig(barge_in=0.18, backchannel_max=0.5))
    _frames(b, "######")
    b.resolve(Look.UNSURE, 0.192)
    acts = _frames(b, "##########", 0.192)
    assert acts and acts[0][1] is BargeAction.FIRE and acts[0][0] >= 0.5


def test_words_turn_into_looks() -> None:
    assert Look.of_words(True) is Look.ACK and Look.of_words(False) is Look.TURN
    assert Look.of_words(None) is Look.NOT_YET


def test_a_word_that_cut_the_agent_off_waits_for_what_follows() -> None:
    eot = EndOfTurnDetector(TurnConfig(finished_silence=0.25, unfinished_silence=0.7))
    eot.speech_started(1.0)
    eot.speech_ended(1.3)
    assert eot.transcript("Wait.", 1.56, cut_in=True) is None  # "Wait, ..." goes on
    assert eot.tick(1.9) is None and eot.tick(2.0) is not None
    plain = EndOfTurnDetector(TurnConfig(finished_silence=0.25, unfinished_silence=0.7))
    plain.speech_started(1.0)
    plain.speech_ended(1.3)
    assert plain.transcript("Yes.", 1.56) is not None  # an answer, not a cut-in


def test_a_held_onset_that_runs_on_unbroken_pauses_the_agent() -> None:
    b = BargeIn(TurnConfig(barge_in=0.18, held_pause_after=0.36, held_recheck=5.0))
    _frames(b, "######")
    b.resolve(Look.ACK, 0.192)
    acts = _frames(b, "######", 0.192)
    assert acts == [(0.384, BargeAction.PAUSE)] and b.state is BargeState.PAUSED
    short = BargeIn(TurnConfig(barge_in=0.18, held_pause_after=0.36))
    _frames(short, "######")
    short.resolve(Look.ACK, 0.192)
    assert _frames(short, "##......", 0.192) == []  # "yeah" ends: the agent never went quiet


def test_a_frame_the_gate_drops_does_not_hide_a_turn_but_a_real_gap_does() -> None:
    cfg = TurnConfig(barge_in=0.18, held_pause_after=0.36, held_recheck=5.0)
    dropped = BargeIn(cfg)
    _frames(dropped, "######")
    dropped.resolve(Look.ACK, 0.192)
    assert _frames(dropped, "##.#####", 0.192) == [(0.384, BargeAction.PAUSE)]  # one frame lost
    mm_hm = BargeIn(cfg)  # "mm" ... "hm": a gap of 96 ms between the two
    _frames(mm_hm, "######")
    mm_hm.resolve(Look.ACK, 0.192)
    assert _frames(mm_hm, "...####", 0.192) == []


def test_a_turn_waiting_out_its_silence_is_likely_and_then_decided():
    from agent.turns import EndOfTurnDetector

    eot = EndOfTurnDetector()
    eot.speech_started(0.0)
    eot.speech_ended(1.0)
    assert eot.transcript("So I was thinking that", 1.1) is None
    assert eot.likely == "So I was thinking that"  # a reply may be prepared now
    eot.speech_started(1.3)  # ... the user goes on
    assert eot.likely is None
    eot.speech_ended(2.0)
    assert eot.transcript("we could do decimals.", 2.1) is None
    d = eot.tick(2.3)
    assert d is not None and d.text == "So I was thinking that we could do decimals." and eot.likely is None


def test_how_the_words_sounded_decides_when_it_is_sure():
    from agent.turns import turn_finished

    cfg = TurnConfig()
    assert turn_finished("Can you help me with fractions", 0.9, cfg)  # no "?" from Whisper, but asked
    assert not turn_finished("I was thinking about the exam.", 0.02, cfg)  # a full stop on a fragment
    assert turn_finished("Why do we need a common denominator?", 0.3, cfg)  # unsure: the "?" decides
    assert not turn_finished("So I wanted to ask, and", 0.95, cfg)  # words that trail off wait, always
    assert turn_finished("Thank you.", None, cfg) and not turn_finished("and then", None, cfg)


def _first_sign_a_frame_early(b: BargeIn) -> float:
    """Speech frames from 0 whose first came with a plain "s" heard a frame before it; → the end
    of the frame that asked for a look."""
    t = 0.0
    while b.frame(t, t + FRAME, True, heard_before=FRAME if t == 0.0 else 0.0) is not BargeAction.CHECK:
        t += FRAME
    return round(t + FRAME, 3)


def test_a_look_due_from_the_first_sign_of_the_voice_decides_only_a_clear_turn() -> None:
    b = BargeIn(TurnConfig(barge_in=0.18))
    assert _first_sign_a_frame_early(b) == 0.16 and b.ahead  # 180 ms after the "s", not the vowel
    assert b.onset == 0.0  # the held rules still count from the VAD's onset
    assert b.resolve(Look.ACK, 0.16) is BargeAction.NONE and b.state is BargeState.ONSET  # not held yet
    assert b.frame(0.16, 0.192, True) is BargeAction.CHECK and not b.ahead  # on time
    assert b.resolve(Look.ACK, 0.192) is BargeAction.NONE and b.state is BargeState.HELD
    clear = BargeIn(TurnConfig(barge_in=0.18))
    _first_sign_a_frame_early(clear)
    assert clear.resolve(Look.UNSURE, 0.16) is BargeAction.PAUSE  # clearly no acknowledgement
