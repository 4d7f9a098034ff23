"""``agent bench perception``: VAD, echo gate, ASR and voice affect speed, ASR accuracy, and
barge-in (turns that must interrupt, backchannels that must not, the agent's own echo), on a
speech set this suite synthesizes itself with espeak-ng and Piper (so it needs no data files).

Times are wall-clock on this machine. Barge-in and end-of-turn latencies are given on the input
audio clock (what the decision waited for) and, separately, the compute they add.
"""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import metadata
from typing import Any

import numpy as np

from agent.bench.report import BenchOptions, Figure, Suite, Timing

log = logging.getLogger(__name__)

SENTENCES = (
    "The weather is lovely today, so we walked to the park.",
    "Can you tell me how the engine works?",
    "I would like two cups of coffee and a glass of water.",
    "Please open the window before the meeting starts.",
    "My brother moved to a small town near the coast last year.",
    "Why did the train stop in the middle of the bridge?",
    "She reads a new book every week and writes about it.",
    "We need more time to finish the report for the client.",
)
AGENT_LINE = ("Photosynthesis turns light into chemical energy, and plants store it as sugar "
              "for later use in the night.")
# the user cutting in, and only acknowledging; heard in espeak-ng's voice and in the project's
# Piper voice, which the backchannel head never heard in training
BARGE_LINES = ("Wait, stop, I have a question about that.", "Sorry, can I ask something?",
               "Hold on, that is not right.", "No, that's wrong.", "What do you mean by that?",
               "Can you say that again?", "Why does that happen?", "Let me stop you there.")
BACKCHANNELS = ("yeah", "uh-huh", "mm-hm", "okay", "right", "yes", "sure", "I see", "got it", "yep")
NOISE_DRAWS = 2  # each espeak line and backchannel is heard over this many noise draws
AGENT_AT, USER_AT = 0.5, 3.5  # the user starts 3 s into the agent's line


def run(opts: BenchOptions) -> Suite:
    suite = Suite("perception")
    from agent.bench.speech import espeak, have_espeak, wer

    if not have_espeak():
        suite.ok = False
        suite.notes.append("espeak-ng not found (apt install espeak-ng): no speech to measure")
        return suite
    from perception.asr import WhisperAsr
    from perception.audio_source import FRAME, SAMPLE_RATE
    from perception.vad import SileroVad
    from perception.voice_affect import VoiceAffect

    sentences = SENTENCES[:2] if opts.quick else SENTENCES
    clips = [espeak(s) for s in sentences]
    rng = np.random.default_rng(opts.seed)
    stream = _stream(clips, rng)

    t0 = time.perf_counter()
    vad = SileroVad()
    load_vad = time.perf_counter() - t0
    t0 = time.perf_counter()
    asr = WhisperAsr()
    load_asr = time.perf_counter() - t0
    suite.models = {"vad": f"silero-vad {_version('silero-vad')} ({vad.backend})", "asr": asr.name,
                    "voice_affect": f"praat-parselmouth {_version('praat-parselmouth')} prosody"}

    chunk_ms = []
    vad.reset()
    for i in range(0, len(stream) - FRAME + 1, FRAME):
        s = time.perf_counter()
        vad.prob(stream[i:i + FRAME])
        chunk_ms.append((time.perf_counter() - s) * 1000)
    suite.timings.append(Timing("vad per 32 ms chunk", chunk_ms, "ms"))

    rtf, hyps = [], []
    affect_ms = []
    voice = VoiceAffect()
    for clip in clips:
        result = asr.transcribe(np.pad(clip, (SAMPLE_RATE // 4, SAMPLE_RATE // 4)))  # a breath of silence
        rtf.append(result.rtf)
        hyps.append(result.text)
        s = time.perf_counter()
        voice.estimate(clip, 0.0, result.words)
        affect_ms.append((time.perf_counter() - s) * 1000)
    suite.timings.append(Timing("asr real-time factor (per sentence)", rtf, "x"))
    suite.timings.append(Timing("voice affect per utterance", affect_ms, "ms"))
    suite.figures.append(Figure("asr WER, clean sentences", wer(list(sentences), hyps)))

    heard, eot = asyncio.run(_hear(stream, asr, vad, voice))
    suite.figures.append(Figure("asr WER, through VAD segmentation + noise", wer(
        [" ".join(sentences)], [" ".join(h.text for h in heard)])))
    suite.figures.append(Figure("segments found / sentences", len([h for h in heard if h.text]) / len(sentences)))
    if eot:
        suite.timings.append(Timing("end of turn after speech end (input clock)", eot, "ms"))

    _barge(suite, opts, asr, vad, rng)
    suite.figures.append(Figure("vad model load", load_vad, "s"))
    suite.figures.append(Figure("asr model load", load_asr, "s"))
    suite.notes.append(f"speech: espeak-ng en-us, {len(sentences)} sentences, "
                       f"{len(stream) / SAMPLE_RATE:.1f} s stream with pink noise at -45 dBFS")
    _face(opts, suite)
    _checked(suite, "smile vs neutral", lambda: _smiles(opts, suite))
    _checked(suite, "voice arousal", lambda: _arousal(opts, suite))
    return suite


def _checked(suite: Suite, name: str, check: Any) -> None:
    """Run one accuracy check; its failure is reported without sinking the other figures."""
    try:
        check()
    except ImportError as e:
        suite.notes.append(f"{name} check not included ({e})")
    except Exception as e:
        log.warning("%s check failed: %r", name, e)
        suite.notes.append(f"{name} check failed: {e.__class__.__name__}: {e}")


def _smiles(opts: BenchOptions, suite: Suite) -> None:
    """Paired smile-vs-neutral faces (agent.bench.smiles): every pair must rank right."""
    from agent.bench.smiles import figures

    found, notes = figures(opts.quick)
    suite.figures.extend(found)
    suite.notes.extend(notes)
    if found and found[0].value < 1.0:
        suite.ok = False


def _arousal(opts: BenchOptions, suite: Suite) -> None:
    """Acted high- vs low-arousal speech (agent.bench.arousal): the voice reading against a
    plain log-F0 + intensity score on the same clips."""
    from agent.bench.arousal import figures

    found, notes, ok = figures(opts.quick, opts.seed)
    suite.figures.extend(found)
    suite.notes.extend(notes)
    suite.ok = suite.ok and ok


def _stream(clips: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    from agent.bench.speech import noise
    from perception.audio_source import SAMPLE_RATE

    gap = int(1.2 * SAMPLE_RATE)
    parts: list[np.ndarray] = [np.zeros(gap // 2, np.float32)]
    for c in clips:
        parts += [0.5 * c, np.zeros(gap, np.float32)]
    stream = np.concatenate(parts)
    return (stream + noise(len(stream), -45.0, rng)).astype(np.float32)


async def _hear(stream: np.ndarray, asr: object, vad: object, voice: object) -> tuple[list, list[float]]:
    from agent.core import events as ev
    from agent.core.bus import EventBus
    from agent.turn_taking import listen
    from perception.audio_source import ArrayAudioSource
    from perception.hearing import Hearing

    bus = EventBus()
    sub = bus.subscribe("bench", ev.EndOfTurn, maxsize=64)
    heard: list = []
    hearing = Hearing(bus, ArrayAudioSource(stream, clock=lambda: 0.0), asr, vad, voice,
                      on_segment=heard.append)
    listen(bus, hearing)
    await hearing.run()
    eot = []
    while (e := sub.channel.get_nowait()) is not None:
        if isinstance(e, ev.EndOfTurn):
            eot.append((e.decided_at - e.audio_end_t) * 1000)
    return [h for h in heard if not h.ignored], eot


def _barge(suite: Suite, opts: BenchOptions, asr: object, vad: object, rng: np.random.Generator) -> None:
    """The agent talks (its echo in the microphone, closed loop: a pause or an interrupt stops
    it); 3 s in the user cuts in, or only acknowledges, or stays quiet (interrupts caused by the
    echo alone). Every line is heard in espeak-ng's voice over two noise draws and in the Piper
    voice at two paces; the backchannel head was trained on neither voice."""
    from agent.bench.speech import PiperLines, espeak
    from perception.audio_source import FRAME, SAMPLE_RATE
    from perception.echo import EchoReference

    agent = espeak(AGENT_LINE, voice="en-us+f3", pitch=70)
    second = np.concatenate([agent, np.zeros(SAMPLE_RATE, np.float32), agent])  # two replies, 1 s apart
    second_user_at = USER_AT + (len(agent) + SAMPLE_RATE) / SAMPLE_RATE
    piper = PiperLines()
    voices = {"espeak": [espeak] * (1 if opts.quick else NOISE_DRAWS),
              "piper": [piper.say] if opts.quick else [piper.say, lambda t: piper.say(t, length_scale=0.85)]}
    lines = BARGE_LINES[:1] if opts.quick else BARGE_LINES
    acks = BACKCHANNELS[:2] if opts.quick else BACKCHANNELS
    for name, says in voices.items():
        stopped, quiet_after, looks, outcomes, pauses = [], [], [], [], []
        for say in says:
            for line in lines:
                first = _listen(agent, say(line), asr, vad, rng)
                if _cut_in(first, USER_AT):
                    quiet_after.append((first.decided_at - USER_AT) * 1000)
                    looks.append(first.check_s * 1000)
                stopped.append(_stopped(first, USER_AT))
            for ack in acks:
                first = _listen(agent, say(ack), asr, vad, rng)
                outcomes.append("held" if first is None else first.outcome)
                if first is not None and first.outcome == "resumed":
                    pauses.append((first.settled_at - first.decided_at) * 1000)
        wall = []  # the same lines once more at real-time pace: on the wall clock, as live
        for line in lines:
            first = _listen(agent, says[0](line), asr, vad, rng, realtime=True)
            if first is not None and first.outcome == "interrupt" and first.wall_decided is not None:
                wall.append((first.wall_decided - first.wall_onset) * 1000)
        if wall:
            suite.timings.append(Timing(f"barge-in: agent quiet after onset, {name} (wall clock)", wall, "ms"))
        suite.figures.append(Figure(f"{name}: turns stopping the agent < 300 ms on the wall clock ({len(lines)} lines)",
                                    sum(w < 300 for w in wall) / len(lines)))
        # the same lines cutting into the agent's second reply, the room learnt from its first:
        # the usual case in a conversation (above, the echo gate is still learning the room)
        learnt = [_listen(second, says[0](line), asr, vad, rng, user_at=second_user_at) for line in lines]
        suite.figures.append(Figure(
            f"{name}: turns stopping the agent < 300 ms, room learnt ({len(lines)} lines)",
            sum(_stopped(first, second_user_at) for first in learnt) / len(lines)))
        if quiet_after:
            suite.timings.append(Timing(f"barge-in: agent quiet after onset, {name} (input clock)", quiet_after, "ms"))
            suite.timings.append(Timing(f"barge-in looks, {name} (compute)", looks, "ms"))
        if pauses:
            suite.timings.append(Timing(f"backchannel pause until resumed, {name} (input clock)", pauses, "ms"))
        n = len(says)
        suite.figures.append(Figure(f"{name}: turns stopping the agent < 300 ms ({len(lines)} lines x {n})",
                                    sum(stopped) / len(stopped)))
        for outcome, label in (("held", "talked on"), ("resumed", "paused, then went on"),
                               ("interrupt", "interrupted")):
            suite.figures.append(Figure(f"{name}: backchannels the agent {label} ({len(acks)} x {n})",
                                        outcomes.count(outcome) / len(outcomes)))
    false = _listen(agent, None, asr, vad, rng)
    suite.figures.append(Figure("interrupts or pauses from the agent's own echo", float(false is not None)))
    echo_ms = []
    mic = _mix_echo(agent, rng)
    probe = EchoReference()
    probe.push(agent, SAMPLE_RATE, AGENT_AT)
    for i in range(0, min(len(mic), int(2.5 * SAMPLE_RATE)) - FRAME + 1, FRAME):
        s = time.perf_counter()
        probe.assess(mic[i:i + FRAME], i / SAMPLE_RATE)
        if i / SAMPLE_RATE > AGENT_AT:
            echo_ms.append((time.perf_counter() - s) * 1000)
    suite.timings.append(Timing("echo gate per 32 ms frame (while playing)", echo_ms, "ms"))
    suite.notes.append(f"barge-in: the agent's espeak line with its echo (60 ms, half level, a room tail) "
                       f"and -45 dBFS noise; the user at half level {USER_AT - AGENT_AT:.0f} s in")


def _cut_in(first: Any, user_at: float) -> bool:
    """The user's turn interrupted the agent (and nothing before it did)."""
    return first is not None and first.onset >= user_at - 0.05 and first.outcome == "interrupt"


def _stopped(first: Any, user_at: float) -> bool:
    """The user's turn made the agent go quiet within 300 ms of their onset."""
    return _cut_in(first, user_at) and first.decided_at - user_at < 0.3


def _mix_echo(agent: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The agent's echo alone, uninterrupted, with the room's noise."""
    from agent.bench.speech import mix, room_echo
    from perception.audio_source import SAMPLE_RATE

    return mix(AGENT_AT + len(agent) / SAMPLE_RATE + 1.0, [(AGENT_AT, room_echo(agent), 1.0)], noise_db=-45.0, seed=rng)


def _listen(agent: np.ndarray, user: np.ndarray | None, asr: object, vad: object,
            rng: np.random.Generator, realtime: bool = False, user_at: float = USER_AT) -> Any:
    """Hearing while the agent speaks and the user says ``user`` from ``user_at``; → the first
    time it made the agent go quiet (``BargeInRecord``), or None. ``realtime``: the room plays at
    the pace it was spoken, so the record's wall-clock times count as live ones do."""
    return asyncio.run(_listen_async(agent, user, asr, vad, int(rng.integers(1 << 30)), realtime, user_at))


async def _listen_async(agent: np.ndarray, user: np.ndarray | None, asr: object, vad: object,
                        seed: int, realtime: bool = False, user_at: float = USER_AT) -> Any:
    from agent.bench.speech import TalkOver
    from agent.core.bus import EventBus
    from agent.turn_taking import listen
    from perception.echo import EchoReference
    from perception.hearing import Hearing

    bus = EventBus()
    echo = EchoReference()
    room = TalkOver(bus, echo, agent, AGENT_AT, user, user_at, seed=seed, realtime=realtime)
    hearing = Hearing(bus, room, asr, vad, None, echo)
    turns = listen(bus, hearing)
    room.on_interrupt = lambda: setattr(turns, "agent_speaking", False)
    turns.agent_speaking = True
    await hearing.run()
    first = turns.barge_ins[0] if turns.barge_ins else None
    if first is not None and realtime:  # the user's first sample, captured in the room's time
        first.wall_onset = room.origin + user_at
    return first


def _face(opts: BenchOptions, suite: Suite) -> None:
    try:
        from agent.bench.face import bench_face
    except ImportError as e:
        suite.notes.append(f"face timings not included ({e})")
        return
    try:
        suite.timings.extend(bench_face(opts))
    except Exception as e:  # the face half must not sink the audio figures
        log.warning("face bench failed: %r", e)
        suite.notes.append(f"face bench failed: {e.__class__.__name__}: {e}")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"
