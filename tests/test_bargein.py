"""Hearing end to end on real speech: the agent talks (its own voice coming back through the
"microphone" with a room's delay and colouring), the user cuts in, acknowledges, or stays quiet.
Every time is on the input clock, so the results are the same on any machine."""

from __future__ import annotations

import numpy as np
import pytest

from agent import events as ev
from agent.bus import EventBus
from agent.tasks import TaskOwner
from perception.asr import WhisperAsr
from perception.audio_source import SAMPLE_RATE, ArrayAudioSource
from perception.echo import EchoReference
from perception.hearing import Hearing
from perception.vad import SileroVad
from speech_fixtures import mix, room_echo, speech  # noqa: F401  (speech is a fixture)

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
                speaking: bool = True, heard_echo: bool = True, seed: int = 0,
                agent_stops_at: float | None = None):
    asr, vad = models
    length = AGENT_START + (len(agent) / SAMPLE_RATE if agent is not None else 3.0) + 1.5
    if user is not None:
        length = max(length, USER_AT + len(user) / SAMPLE_RATE + 1.5)
    parts = []
    if agent is not None and agent_stops_at is not None:  # playback stopped by the interrupt
        agent = agent[: int((agent_stops_at - AGENT_START) * SAMPLE_RATE)]
    if agent is not None and heard_echo:
        parts.append((AGENT_START, room_echo(agent, delay=0.06, gain=echo_gain), 1.0))
    if user is not None:
        parts.append((USER_AT, user, 0.5))
    bus = EventBus()
    sub = bus.subscribe("test", maxsize=1024)
    echo = EchoReference()
    if agent is not None:
        echo.push(agent, SAMPLE_RATE, AGENT_START)  # what the speaker played (origin: input t = 0)
    hearing = Hearing(bus, ArrayAudioSource(mix(length, parts, noise_db=-45, seed=seed), clock=lambda: 0.0),
                      asr, vad, None, echo)
    hearing.agent_speaking = speaking
    async with TaskOwner("test") as owner:
        await owner.spawn(hearing.run(), "hearing")
    events = []
    while (e := sub.channel.get_nowait()) is not None:
        events.append(e)
    return hearing, events


def _of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


async def test_user_speech_interrupts_within_300_ms_of_onset(models, agent_voice, speech, no_leaked_tasks) -> None:
    hearing, events = await _hear(models, agent_voice, speech.say("Wait, stop, I have a question about that."),
                                  agent_stops_at=USER_AT + 0.3)  # as the interrupt makes it
    interrupts = _of(events, ev.Interrupt)
    assert len(interrupts) == 1 and interrupts[0].reason == "barge-in"
    (barge,) = hearing.barge_ins
    assert barge.decided_at - USER_AT < 0.3, barge  # from the true onset, on the input clock
    assert barge.onset >= USER_AT - 0.05  # and not set off before the user spoke
    assert events.index(interrupts[0]) < events.index(_of(events, ev.UserSpeechEnded)[-1])  # while they talk
    (turn,) = _of(events, ev.EndOfTurn)
    # the interrupting words become the user's turn (Whisper tiny on espeak over a room echo and
    # noise mishears some words, so the check is on the turn, not on its exact wording)
    assert len(turn.text.split()) >= 5, turn.text


async def test_the_agents_own_voice_never_interrupts(models, agent_voice) -> None:
    for gain in (0.5, 1.0):
        hearing, events = await _hear(models, agent_voice, None, echo_gain=gain)
        assert not _of(events, ev.Interrupt) and not hearing.barge_ins, gain
        assert not _of(events, ev.EndOfTurn), [e.text for e in _of(events, ev.EndOfTurn)]


LINES = ("Wait, stop, I have a question about that.", "Sorry, can I ask something?",
         "Hold on, that is not right.")


@pytest.fixture(scope="module")
def piper_voice():
    """The project's Piper voice with its sampling noise off, so that a line sounds the same in
    every run (VITS draws random noise per call)."""
    import soxr
    from piper import SynthesisConfig

    from agent.tts.piper import PiperTTS
    from speech_fixtures import trim

    tts = PiperTTS()
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False)

    def say(text: str) -> np.ndarray:
        audio = np.concatenate([c.audio_float_array for c in tts._voice.synthesize(text, config)])
        return trim(soxr.resample(audio, tts.sample_rate, SAMPLE_RATE).astype(np.float32))
    return say


async def test_every_line_interrupts_within_300_ms_over_noise_seeds_and_voices(models, agent_voice, speech,
                                                                               piper_voice) -> None:
    late = []
    for voice, say, seeds in (("espeak", speech.say, (0, 1, 2, 3)), ("piper", piper_voice, (0, 1))):
        for line in LINES:
            user = say(line)
            for seed in seeds:
                hearing, events = await _hear(models, agent_voice, user, seed=seed)
                first = hearing.barge_ins[0] if hearing.barge_ins else None
                if first is None or first.decided_at - USER_AT >= 0.3 or first.onset < USER_AT - 0.05:
                    late.append((voice, line[:12], seed, first and round(first.decided_at - USER_AT, 3)))
    assert not late, late


async def test_the_echo_never_interrupts_over_noise_seeds(models, agent_voice) -> None:
    for seed in (1, 2, 3):
        hearing, events = await _hear(models, agent_voice, None, seed=seed)
        assert not _of(events, ev.Interrupt) and not hearing.barge_ins, seed


# Whisper tiny.en misreads the first ~220 ms of these (espeak "yeah" as "India", "right" as
# "run run", "uh-huh" as "I'm not going to be", Piper's "uh-huh" as "Five, five"): no hum, no
# backchannel word, so they interrupt. Known gap (issue 4); the rest must hold.
# espeak-ng spells "mm-hm" out as letters ("em em aitch em", 0.8 s); a hum is given as phonemes
_ESPEAK = {"mm-hm": "[[m:'hm:]]"}
_MISHEARD = {("espeak", "yeah"), ("espeak", "right"), ("espeak", "uh-huh"), ("piper", "uh-huh")}


@pytest.mark.parametrize("voice", ["espeak", "piper"])
@pytest.mark.parametrize("word", ["yeah", "uh-huh", "mm-hm", "okay", "right"])
async def test_backchannels_do_not_interrupt(models, agent_voice, speech, piper_voice, voice: str,
                                             word: str, request) -> None:
    if (voice, word) in _MISHEARD:
        request.applymarker(pytest.mark.xfail(reason="Whisper tiny mishears the onset", strict=False))
    user = speech.say(_ESPEAK.get(word, word)) if voice == "espeak" else piper_voice(word)
    hearing, events = await _hear(models, agent_voice, user, seed=0)
    assert not _of(events, ev.Interrupt) and not hearing.barge_ins
    assert not _of(events, ev.EndOfTurn)  # the agent goes on; "uh-huh" is not a turn


async def test_with_headphones_the_gate_steps_aside(models, agent_voice, speech) -> None:
    """Playback with no echo in the microphone: the user still barges in."""
    hearing, events = await _hear(models, agent_voice, speech.say("Stop, please stop talking."),
                                  heard_echo=False)
    assert len(_of(events, ev.Interrupt)) == 1
    assert hearing.barge_ins[0].decided_at - USER_AT < 0.3


async def test_no_interrupt_while_the_agent_is_quiet(models, speech) -> None:
    hearing, events = await _hear(models, None, speech.say("Can you tell me how the engine works?"),
                                  speaking=False)
    assert not _of(events, ev.Interrupt)
    kinds = [type(e) for e in events if not isinstance(e, ev.StageLatency)]
    assert kinds == [ev.UserSpeechStarted, ev.UserSpeechEnded, ev.Transcript, ev.EndOfTurn]


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
