"""Hearing end to end on real speech: the agent talks (its own voice coming back through the
"microphone" with a room's delay and colouring), the user cuts in, acknowledges, or stays quiet.
Every time is on the input clock, so the results are the same on any machine."""

from __future__ import annotations

import numpy as np
import pytest
from speech_fixtures import PiperLines, TalkOver, mix

from agent.core import events as ev
from agent.core.bus import EventBus
from agent.core.tasks import TaskOwner
from agent.turn_taking import TurnTaker, listen
from perception.asr import WhisperAsr
from perception.audio_source import SAMPLE_RATE, ArrayAudioSource
from perception.echo import EchoReference
from perception.hearing import Hearing
from perception.vad import SileroVad

pytestmark = pytest.mark.slow

AGENT_LINE = ("Photosynthesis turns light into chemical energy, and plants store it as sugar "
              "for later use in the night.")
AGENT_START, USER_AT = 0.5, 3.5  # the gate learns the room during the agent's first seconds


@pytest.fixture(scope="module")
def models() -> tuple[WhisperAsr, SileroVad]:
    return WhisperAsr(), SileroVad()


@pytest.fixture(scope="module")
def agent_voice(speech) -> np.ndarray:
    return speech.say(AGENT_LINE, voice="en-us+f3", pitch=70)


async def _hear(models, agent: np.ndarray | None, user: np.ndarray | None, *, echo_gain: float = 0.5,
                speaking: bool = True, heard_echo: bool = True, seed: int = 0):
    """Hearing in a room where the agent says ``agent`` and the user says ``user`` 3 s in. The
    room is closed loop: a pause or an interrupt stops the agent's voice there, a resume goes on."""
    asr, vad = models
    bus = EventBus()
    sub = bus.subscribe("test", maxsize=1024)
    echo = EchoReference()
    if agent is not None:
        source = TalkOver(bus, echo, agent, AGENT_START, user, USER_AT, echo_gain=echo_gain, seed=seed,
                          heard_echo=heard_echo)
    else:
        source = ArrayAudioSource(mix(USER_AT + len(user) / SAMPLE_RATE + 1.5, [(USER_AT, user, 0.5)],
                                      noise_db=-45, seed=seed), clock=lambda: 0.0)
    hearing = Hearing(bus, source, asr, vad, None, echo)
    turns = listen(bus, hearing)
    if agent is not None:  # the session tells turn-taking the agent is quiet once it gave up its turn
        source.on_interrupt = lambda: setattr(turns, "agent_speaking", False)
    turns.agent_speaking = speaking
    async with TaskOwner("test") as owner:
        await owner.spawn(hearing.run(), "hearing")
    events = []
    while (e := sub.channel.get_nowait()) is not None:
        events.append(e)
    return turns, events


def _of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def _interrupts(hearing: TurnTaker) -> list:
    return [b for b in hearing.barge_ins if b.outcome == "interrupt"]


async def test_user_speech_interrupts_within_300_ms_of_onset(models, agent_voice, speech, no_leaked_tasks) -> None:
    hearing, events = await _hear(models, agent_voice, speech.say("Wait, stop, I have a question about that."))
    interrupts = _of(events, ev.Interrupt)
    assert len(interrupts) == 1 and interrupts[0].reason == "barge-in"
    (barge,) = hearing.barge_ins
    assert barge.outcome == "interrupt"
    assert barge.decided_at - USER_AT < 0.3, barge  # quiet within 300 ms of the true onset, input clock
    assert barge.onset >= USER_AT - 0.05  # and not set off before the user spoke
    assert events.index(interrupts[0]) < events.index(_of(events, ev.UserSpeechEnded)[-1])  # while they talk
    (turn,) = _of(events, ev.EndOfTurn)
    # the interrupting words become the user's turn (Whisper tiny on espeak over a room echo and
    # noise mishears some words, so the check is on the turn, not on its exact wording)
    assert len(turn.text.split()) >= 5, turn.text


async def test_the_agents_own_voice_never_interrupts(models, agent_voice) -> None:
    for gain in (0.5, 1.0):
        hearing, events = await _hear(models, agent_voice, None, echo_gain=gain)
        assert not _of(events, ev.Interrupt) and not hearing.barge_ins, gain  # not even a pause
        assert not _of(events, ev.EndOfTurn), [e.text for e in _of(events, ev.EndOfTurn)]


LINES = ("Wait, stop, I have a question about that.", "Sorry, can I ask something?",
         "Hold on, that is not right.")


@pytest.fixture(scope="module")
def piper_voice():
    """The project's Piper voice, deterministic; the backchannel head never heard it in training."""
    return PiperLines().say


async def test_every_line_interrupts_within_300_ms_over_noise_seeds_and_voices(models, agent_voice, speech,
                                                                               piper_voice) -> None:
    late = []
    for voice, say, seeds in (("espeak", speech.say, (0, 1, 2, 3)), ("piper", piper_voice, (0, 1))):
        for line in LINES:
            user = say(line)
            for seed in seeds:
                hearing, events = await _hear(models, agent_voice, user, seed=seed)
                first = hearing.barge_ins[0] if hearing.barge_ins else None  # the agent went quiet
                if first is None or first.decided_at - USER_AT >= 0.3 or first.onset < USER_AT - 0.05 \
                        or first.outcome != "interrupt":
                    late.append((voice, line[:12], seed, first and (round(first.decided_at - USER_AT, 3),
                                                                   first.outcome)))
    assert not late, late


async def test_the_echo_never_interrupts_over_noise_seeds(models, agent_voice) -> None:
    for seed in (1, 2, 3):
        hearing, events = await _hear(models, agent_voice, None, seed=seed)
        assert not _of(events, ev.Interrupt) and not hearing.barge_ins, seed


ACKS = ["yeah", "uh-huh", "mm-hm", "okay", "right", "yes", "sure", "I see", "got it", "yep"]


@pytest.mark.parametrize("voice", ["espeak", "piper"])
@pytest.mark.parametrize("word", ACKS)
async def test_backchannels_do_not_interrupt(models, agent_voice, speech, piper_voice, voice: str,
                                             word: str) -> None:
    user = speech.say(word) if voice == "espeak" else piper_voice(word)
    hearing, events = await _hear(models, agent_voice, user, seed=0)
    assert not _of(events, ev.Interrupt) and not _interrupts(hearing)
    # the agent talks on, or pauses and goes on once the words say it was an acknowledgement
    assert all(b.outcome == "resumed" for b in hearing.barge_ins), hearing.barge_ins
    assert len(_of(events, ev.Resume)) == len(_of(events, ev.Pause)) == len(hearing.barge_ins)
    assert not _of(events, ev.EndOfTurn)  # "uh-huh" is not a turn


async def test_an_acknowledgement_that_goes_on_takes_the_turn(models, agent_voice, speech) -> None:
    """"Yeah, but ..." is held at first; the words that follow pause the agent, and it is
    interrupted once they are heard out."""
    hearing, events = await _hear(models, agent_voice, speech.say("Yeah, but I think that is wrong."))
    assert len(_of(events, ev.Interrupt)) == 1 and _interrupts(hearing)
    (turn,) = _of(events, ev.EndOfTurn)
    assert "think" in turn.text.lower() or len(turn.text.split()) >= 4, turn.text


async def test_with_headphones_the_gate_steps_aside(models, agent_voice, speech) -> None:
    """Playback with no echo in the microphone: the user still barges in."""
    hearing, events = await _hear(models, agent_voice, speech.say("Stop, please stop talking."),
                                  heard_echo=False)
    assert len(_of(events, ev.Interrupt)) == 1 and _interrupts(hearing)
    assert hearing.barge_ins[0].decided_at - USER_AT < 0.3


async def test_no_interrupt_while_the_agent_is_quiet(models, speech) -> None:
    hearing, events = await _hear(models, None, speech.say("Can you tell me how the engine works?"),
                                  speaking=False)
    assert not _of(events, ev.Interrupt)
    # Pauses inside the utterance (listening nods) may come between its start and its end.
    kinds = [type(e) for e in events if not isinstance(e, (ev.StageLatency, ev.UserPause))]
    assert kinds == [ev.UserSpeechStarted, ev.UserSpeechEnded, ev.Transcript, ev.EndOfTurn]
    ended = next(i for i, e in enumerate(events) if isinstance(e, ev.UserSpeechEnded))
    assert all(i < ended for i, e in enumerate(events) if isinstance(e, ev.UserPause))


@pytest.mark.parametrize("line,finished", [("Can you tell me how the engine works?", True),
                                           ("So I was thinking that", False)])
async def test_end_of_turn_waits_less_after_a_finished_question(models, speech, line: str,
                                                                finished: bool) -> None:
    hearing, events = await _hear(models, None, speech.say(line), speaking=False)
    (turn,) = _of(events, ev.EndOfTurn)
    (ended,) = _of(events, ev.UserSpeechEnded)
    wait = turn.decided_at - turn.audio_end_t
    assert turn.audio_end_t == pytest.approx(ended.audio_t)
    assert (0.2 <= wait <= 0.35) if finished else (0.68 <= wait <= 0.8), wait


async def test_turns_the_gate_hears_late_leave_the_wall_clock_a_margin(models, agent_voice, speech,
                                                                        piper_voice) -> None:
    """Two turns the VAD wakes on late: Piper's "Sorry" (its "S" heard plainly a frame before) and
    espeak's "Can you" (its "n" and "y" lost under the loudest echo). Decided at 276 ms on the
    input clock they left the looks' compute 24 ms to the 300 ms mark on the wall clock; now the
    look reads from the "S" and is due from it, and the lost syllables count towards a look in
    the dip. The seeds are the bench's draws."""
    late = []
    for user, seed in ((piper_voice("Sorry, can I ask something?"), 397387546),
                       (speech.say("Can you say that again?"), 754315415)):
        hearing, _ = await _hear(models, agent_voice, user, seed=seed)
        first = hearing.barge_ins[0] if hearing.barge_ins else None
        if first is None or first.decided_at - USER_AT >= 0.25:
            late.append(first)
    assert not late, late
