"""``agent bench perception``: VAD, echo gate, ASR and voice affect speed, and ASR accuracy, on a
speech set this suite synthesizes itself with espeak-ng (so it needs no data files).

Times are wall-clock on this machine. Barge-in and end-of-turn latencies are given on the input
audio clock (what the decision waited for) and, separately, the compute they add.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import tempfile
import time
from importlib import metadata
from pathlib import Path

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
BARGE_LINES = ("Wait, stop, I have a question about that.", "Sorry, can I ask something?",
               "Hold on, that is not right.")
BACKCHANNELS = ("yeah", "uh-huh", "mm-hm", "okay", "right")
# espeak-ng spells "mm-hm" out as letters ("em em aitch em"); the hum is given as phonemes
_ESPEAK_TEXT = {"mm-hm": "[[m:'hm:]]"}
NOISE_DRAWS = 2  # each barge-in line and backchannel is heard over this many noise draws


def run(opts: BenchOptions) -> Suite:
    suite = Suite("perception")
    if shutil.which("espeak-ng") is None:
        suite.ok = False
        suite.notes.append("espeak-ng not found (apt install espeak-ng): no speech to measure")
        return suite
    from perception.asr import WhisperAsr
    from perception.audio_source import FRAME, SAMPLE_RATE
    from perception.vad import SileroVad
    from perception.voice_affect import VoiceAffect

    sentences = SENTENCES[:2] if opts.quick else SENTENCES
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp:
        clips = [_say(Path(tmp), i, s) for i, s in enumerate(sentences)]
        agent = _say(Path(tmp), 100, AGENT_LINE, voice="en-us+f3", pitch=70)
        users = [_say(Path(tmp), 101 + i, s) for i, s in enumerate(BARGE_LINES[:1] if opts.quick else BARGE_LINES)]
        acks = [] if opts.quick else [_say(Path(tmp), 201 + i, _ESPEAK_TEXT.get(s, s))
                                      for i, s in enumerate(BACKCHANNELS)]
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
    suite.figures.append(Figure("asr WER, clean sentences", _wer(list(sentences), hyps)))

    heard, eot = asyncio.run(_hear(stream, asr, vad, voice))
    suite.figures.append(Figure("asr WER, through VAD segmentation + noise", _wer(
        [" ".join(sentences)], [" ".join(h.text for h in heard)])))
    suite.figures.append(Figure("segments found / sentences", len([h for h in heard if h.text]) / len(sentences)))
    if eot:
        suite.timings.append(Timing("end of turn after speech end (input clock)", eot, "ms"))

    draws = 1 if opts.quick else NOISE_DRAWS
    barge, echo_ms, false_interrupts, ack_interrupts = asyncio.run(_barge(agent, users, acks, asr, vad, rng, draws))
    suite.timings.append(Timing("echo gate per 32 ms frame (while playing)", echo_ms, "ms"))
    if barge:
        suite.timings.append(Timing("barge-in after onset (input clock)", [b[0] for b in barge], "ms"))
        suite.timings.append(Timing("barge-in looks (glance + hum, compute)",
                                    [b[1] for b in barge], "ms"))
        within = sum(1 for b in barge if b[0] < 300) / (len(users) * draws)
        suite.figures.append(Figure(f"barge-in lines interrupting < 300 ms ({len(users)} lines x {draws} noise)",
                                    within))
    else:
        suite.ok = False
        suite.notes.append("barge-in did not fire on the overlapping user speech")
    suite.figures.append(Figure("interrupts from the agent's own echo", false_interrupts))
    if acks:
        suite.figures.append(Figure(f"interrupts from backchannels ({', '.join(BACKCHANNELS)}; "
                                    f"x {draws} noise)", ack_interrupts))
    suite.figures.append(Figure("vad model load", load_vad, "s"))
    suite.figures.append(Figure("asr model load", load_asr, "s"))
    suite.notes.append(f"speech: espeak-ng en-us, {len(sentences)} sentences, "
                       f"{len(stream) / SAMPLE_RATE:.1f} s stream with pink noise at -45 dBFS")
    _face(opts, suite)
    return suite


def _say(tmp: Path, i: int, text: str, voice: str = "en-us", pitch: int = 50) -> np.ndarray:
    from perception.audio_source import load_audio

    path = tmp / f"{i}.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "-v", voice, "-s", "160", "-p", str(pitch), text],
                   check=True, capture_output=True)
    audio = load_audio(path)
    loud = np.nonzero(np.abs(audio) > 0.01)[0]
    return audio[loud[0]:loud[-1] + 1] if len(loud) else audio


def _noise(n: int, rng: np.random.Generator, level_db: float = -45.0) -> np.ndarray:
    from scipy.signal import lfilter

    x = lfilter([0.1], [1.0, -0.9], rng.standard_normal(n))
    return (x / (np.sqrt(np.mean(x ** 2)) or 1.0) * 10 ** (level_db / 20)).astype(np.float32)


def _stream(clips: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    from perception.audio_source import SAMPLE_RATE

    gap = int(1.2 * SAMPLE_RATE)
    parts = [np.zeros(gap // 2, np.float32)]
    for c in clips:
        parts += [0.5 * c, np.zeros(gap, np.float32)]
    stream = np.concatenate(parts)
    return (stream + _noise(len(stream), rng)).astype(np.float32)


def _wer(refs: list[str], hyps: list[str]) -> float:
    import jiwer

    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    return float(jiwer.wer(refs, hyps, reference_transform=norm, hypothesis_transform=norm))


async def _hear(stream: np.ndarray, asr: object, vad: object, voice: object) -> tuple[list, list[float]]:
    from agent import events as ev
    from agent.bus import EventBus
    from perception.audio_source import ArrayAudioSource
    from perception.hearing import Hearing

    bus = EventBus()
    sub = bus.subscribe("bench", ev.EndOfTurn, maxsize=64)
    heard: list = []
    hearing = Hearing(bus, ArrayAudioSource(stream, clock=lambda: 0.0), asr, vad, voice,
                      on_segment=heard.append)
    await hearing.run()
    eot = []
    while (e := sub.channel.get_nowait()) is not None:
        if isinstance(e, ev.EndOfTurn):
            eot.append((e.decided_at - e.audio_end_t) * 1000)
    return [h for h in heard if not h.ignored], eot


async def _barge(agent: np.ndarray, users: list[np.ndarray], acks: list[np.ndarray], asr: object,
                 vad: object, rng: np.random.Generator, draws: int = 1
                 ) -> tuple[list[tuple[float, float]], list[float], float, float]:
    """The agent talks (its echo in the microphone); the user cuts in 3 s later, or only
    acknowledges, or stays quiet (interrupts caused by the echo alone)."""
    from perception.audio_source import FRAME, SAMPLE_RATE
    from perception.echo import EchoReference

    start, onset = 0.5, 3.5
    n = int((start + len(agent) / SAMPLE_RATE + 1.0) * SAMPLE_RATE)
    echo_path = _room(agent)

    def microphone(user: np.ndarray | None) -> np.ndarray:
        mic = _noise(n, rng)
        a = int(start * SAMPLE_RATE)
        mic[a:a + len(echo_path)] += echo_path[:n - a]
        if user is not None:
            u = int(onset * SAMPLE_RATE)
            mic[u:u + len(user)] += 0.5 * user[:n - u]
        return mic

    results = []
    for user in users:
        for _ in range(draws):
            hearing, _ = await _listen(microphone(user), agent, start, asr, vad)
            results += [((b.decided_at - onset) * 1000, b.check_s * 1000) for b in list(hearing.barge_ins)[:1]]
    _, false = await _listen(microphone(None), agent, start, asr, vad)
    ack_false = 0
    for ack in acks:
        for _ in range(draws):
            ack_false += (await _listen(microphone(ack), agent, start, asr, vad))[1]
    echo_ms = []
    mic = microphone(None)
    probe = EchoReference()
    probe.push(agent, SAMPLE_RATE, start)
    for i in range(0, min(len(mic), int(2.5 * SAMPLE_RATE)) - FRAME + 1, FRAME):
        s = time.perf_counter()
        probe.assess(mic[i:i + FRAME], i / SAMPLE_RATE)
        if i / SAMPLE_RATE > start:
            echo_ms.append((time.perf_counter() - s) * 1000)
    return results, echo_ms, float(false), float(ack_false)


async def _listen(mic: np.ndarray, agent: np.ndarray, start: float, asr: object, vad: object
                  ) -> tuple[object, int]:
    """Hearing while the agent speaks; returns it and how many interrupts it published."""
    from agent import events as ev
    from agent.bus import EventBus
    from perception.audio_source import SAMPLE_RATE, ArrayAudioSource
    from perception.echo import EchoReference
    from perception.hearing import Hearing

    bus = EventBus()
    sub = bus.subscribe("bench", ev.Interrupt, maxsize=16)
    echo = EchoReference()
    echo.push(agent, SAMPLE_RATE, start)
    hearing = Hearing(bus, ArrayAudioSource(mic, clock=lambda: 0.0), asr, vad, None, echo)
    hearing.agent_speaking = True
    await hearing.run()
    interrupts = 0
    while sub.channel.get_nowait() is not None:
        interrupts += 1
    return hearing, interrupts


def _room(audio: np.ndarray) -> np.ndarray:
    """Speaker-to-microphone echo: 60 ms delay, half level, low-passed, a short room tail."""
    from scipy.signal import fftconvolve, lfilter

    from perception.audio_source import SAMPLE_RATE

    rng = np.random.default_rng(1)
    n_ir = int(0.12 * SAMPLE_RATE)
    ir = rng.standard_normal(n_ir) * np.exp(-np.arange(n_ir) / (0.03 * SAMPLE_RATE)) * 0.04
    ir[0] = 1.0
    wet = lfilter([0.6], [1.0, -0.4], fftconvolve(audio, ir)[:len(audio)])
    out = np.concatenate([np.zeros(int(0.06 * SAMPLE_RATE)), wet])
    return (0.5 * out / (np.max(np.abs(out)) or 1.0) * np.max(np.abs(audio))).astype(np.float32)


def _face(opts: BenchOptions, suite: Suite) -> None:
    try:
        from perception.face_bench import bench_face
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
