"""Soak: one long session, turn after turn, to show that nothing grows while the agent is left
running: memory, latency, queues, late frames, file handles, threads, the environment.

The real session as ``agent run`` builds it for a headless machine: the embedded LLM, the emotion
engine (MiniLM and the trained heads), espeak-ng speech played on a real-time clock, the animator
and the face loop, and the live recording (the torch renderer into a fragmented MP4 at 256×256)
— typed turns instead of a microphone, back to back. Latency drift compares the median turn
latency (emotion → first audio) of the last window with the first; the window is 5 minutes, or
a third of a shorter soak. Memory growth is the resident set at the end minus at the end of the
first window (caches and the allocator settle in it); the slope over the rest says whether it
keeps climbing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.bench.latency import QUESTIONS
from agent.bench.report import BenchOptions, Figure, Suite, Timing

DEFAULT_MINUTES = 30.0
QUICK_MINUTES = 0.25
WINDOW_MINUTES = 5.0
SAMPLE_S = 5.0  # process figures are read this often
MAX_GROWTH_MB = 20.0  # issue 18's bars for a pass
MAX_DRIFT = 1.2
STAGES = ("emotion", "llm_first_sentence", "first_audio")  # the turn latency's parts


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def open_files() -> int:
    return len(os.listdir(f"/proc/{os.getpid()}/fd"))


def os_threads() -> int:
    """Every thread of the process, the native ones too (torch, llama.cpp, ONNX, PortAudio)."""
    return len(os.listdir(f"/proc/{os.getpid()}/task"))


@dataclass
class Sample:
    t: float  # seconds since the soak started
    rss: float
    files: int
    threads: int  # OS threads
    py_threads: int = 0  # threads Python started (ours, the libraries' Python workers)
    load: float = 0.0  # the machine's 1-minute load average: others' work slows turns too

    @classmethod
    def now(cls, t: float) -> Sample:
        return cls(t, rss_mb(), open_files(), os_threads(), threading.active_count(), os.getloadavg()[0])


@dataclass
class Soak:
    minutes: float
    samples: list[Sample] = field(default_factory=list)
    latency: list[tuple[float, float]] = field(default_factory=list)  # (t, seconds)
    stages: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (t, stage → seconds)
    deepest: tuple[int, str] = (0, "")
    turns: int = 0
    frames: int = 0
    late: int = 0
    recorded_s: float = 0.0
    stalls: int = 0
    audio_held_s: float = 0.0  # the agent's speech the live recording still holds in memory
    lag_p99_ms: float = 0.0
    env_changed: list[str] = field(default_factory=list)
    before: Sample | None = None  # before the pipeline was built
    after: Sample | None = None  # after it was closed

    def sample(self, t: float) -> Sample:
        s = Sample.now(t)
        self.samples.append(s)
        return s


async def _soak(minutes: float, persona_name: str, config: str | None, folder: Path) -> Soak:
    import llama_cpp  # noqa: F401  (its import opens two /dev/null files for good: not the session's)

    from agent.core import events as ev
    from agent.core.bus import EventBus
    from agent.pipeline import PipelineOptions, build_pipeline
    from agent.session import Session
    from persona.config import get_persona

    out = Soak(minutes)
    out.before = Sample.now(0.0)
    persona = get_persona(persona_name, config)
    bus = EventBus()
    opts = PipelineOptions(realtime=True, llm_backend="embedded", tts_backend="espeak", microphone=False,
                           keyboard=False, speakers=False, virtual_camera=False, window=False,
                           output=folder / "soak.mp4", size=(256, 256))
    async with await build_pipeline(persona, opts, bus, progress=lambda text: None) as pipeline:
        pipeline.greet = False
        session = Session(pipeline, bus=bus, say=lambda s: None)
        done = asyncio.Event()
        start = time.monotonic()

        def observe(e: ev.Event) -> None:
            if isinstance(e, ev.TurnLatency):  # a turn may end without audio (an empty reply)
                if e.first_audio is not None:
                    t = time.monotonic() - start
                    out.latency.append((t, (e.emotion or 0) + (e.llm_first_sentence or 0) + e.first_audio))
                    stages = {k: v for k in STAGES if (v := getattr(e, k)) is not None}
                    evaluated = getattr(pipeline.dialogue.llm if pipeline.dialogue else None, "evaluated", None)
                    if evaluated:  # prompt tokens llama.cpp read for this reply (not from its cache)
                        stages["prompt tokens evaluated"] = float(evaluated[-1])
                    out.stages.append((t, stages))
                done.set()
            depths = bus.depths()
            if depths and (deepest := max(depths.items(), key=lambda kv: kv[1]))[1] > out.deepest[0]:
                out.deepest = (deepest[1], deepest[0])

        bus.observe(observe)
        runner = asyncio.ensure_future(session.run())
        await session.ready.wait()
        env = dict(os.environ)
        deadline = start + minutes * 60
        next_sample = start
        while time.monotonic() < deadline:
            done.clear()
            await bus.publish(ev.UserText(text=QUESTIONS[out.turns % len(QUESTIONS)]))
            await asyncio.wait_for(done.wait(), 120)
            out.turns += 1
            # the first sample after the first turn: every lazily started pool (the encoder's,
            # the loop's executor) is up by then, so what comes later is growth
            if time.monotonic() >= next_sample:
                out.sample(time.monotonic() - start)
                next_sample = max(next_sample, start) + SAMPLE_S
        out.sample(time.monotonic() - start)
        out.audio_held_s = pipeline.recording.held_s if pipeline.recording is not None else 0.0
        out.env_changed = sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k))
        await bus.publish(ev.Stop(reason="soak done"))
        report = await runner
        out.frames, out.late = report.frames, report.late_frames
        out.stalls = len(report.stalls)
        lags = sorted(report.loop_lag_ms)
        out.lag_p99_ms = lags[int(0.99 * (len(lags) - 1))] if lags else 0.0
        recording = pipeline.recording
    await asyncio.get_running_loop().shutdown_default_executor()  # the loop's own workers, as asyncio.run does
    out.after = Sample.now(time.monotonic() - start)
    out.recorded_s = _recorded(recording.path if recording is not None else None)
    return out


def _recorded(path: Path | None) -> float:
    """Seconds the session's recording holds, read back by FFmpeg (it must open)."""
    if path is None or not path.exists():
        return 0.0
    import av

    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1e6


def run(opts: BenchOptions) -> Suite:
    minutes = QUICK_MINUTES if opts.quick else float(opts.extra.get("soak_minutes") or DEFAULT_MINUTES)
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    with tempfile.TemporaryDirectory(prefix="agent-soak-") as folder:
        r = asyncio.run(_soak(minutes, opts.extra.get("persona") or "tutor", opts.extra.get("config"),
                              Path(folder)))
    return report(r, started=started)


def report(r: Soak, started: str = "") -> Suite:
    window = min(WINDOW_MINUTES, r.minutes / 3) * 60
    end = r.samples[-1].t
    first = [s for t, s in r.latency if t <= window]
    last = [s for t, s in r.latency if t >= end - window]
    settled = next((s for s in r.samples if s.t >= window), r.samples[-1])
    tail = [s for s in r.samples if s.t >= window]
    start, final = settled, r.samples[-1]  # files and threads too: once the first window has settled
    growth = final.rss - settled.rss
    drift = statistics.median(last) / statistics.median(first) if first and last else float("nan")
    suite = Suite("soak", models={"llm": "embedded gemma-3-270m", "tts": "espeak-ng",
                                  "video": "avatar renderer 256x256 → fragmented MP4"})
    suite.timings.append(Timing("turn latency (emotion → first audio)", [s for _, s in r.latency], "s"))
    suite.figures += [
        Figure("minutes", r.minutes), Figure("turns", r.turns),
        Figure("window for first / last (minutes)", window / 60),
        Figure("memory at the end of the first window", settled.rss, "MB"),
        Figure("memory growth, end of first window → end", growth, "MB"),
        Figure("memory slope after the first window", _slope_per_hour(tail), "MB/h"),
        Figure("latency median, first window", statistics.median(first) if first else float("nan"), "s"),
        Figure("latency median, last window", statistics.median(last) if last else float("nan"), "s"),
        Figure("latency drift, last / first window (median)", drift, "x"),
        Figure("machine load (1 min), first window median", _load(r, 0, window), f"on {os.cpu_count()} cores"),
        Figure("machine load (1 min), last window median", _load(r, end - window, end), f"on {os.cpu_count()} cores"),
        *_stage_figures(r, window, end),
        Figure("deepest bus queue seen", r.deepest[0]),
        Figure("face frames", r.frames), Figure("late face frames", r.late),
        Figure("recording plays, seconds", r.recorded_s, "s"),
        Figure("speech the recording holds in memory at the end", r.audio_held_s, "s"),
        Figure("loop lag p99", r.lag_p99_ms, "ms"), Figure("loop stalls named (> 250 ms)", r.stalls),
        Figure("open files, end of first window → end", final.files - start.files),
        Figure("threads (OS), end of first window → end", final.threads - start.threads),
        Figure("open files, before build → after close", _delta(r, "files")),
        Figure("Python threads, before build → after close", _delta(r, "py_threads")),
        Figure("threads (OS), before build → after close", _delta(r, "threads")),
        Figure("environment variables changed while running", len(r.env_changed)),
    ]
    suite.notes.append(f"started {started}; deepest queue: {r.deepest[1] or '-'}; after the first turn / "
                       f"first window / end: open files {r.samples[0].files} / {start.files} / {final.files}, "
                       f"OS threads {r.samples[0].threads} / {start.threads} / {final.threads}; "
                       f"before build / after close: files {_pair(r, 'files')}, Python threads "
                       f"{_pair(r, 'py_threads')}, OS threads {_pair(r, 'threads')} (the native pools "
                       "of torch, llama.cpp and ONNX live as long as the process)")
    if r.env_changed:
        suite.notes.append("environment changed: " + ", ".join(r.env_changed))
    if not (first and last):  # a soak too short for turns in both windows (--quick) judges the rest
        suite.notes.append("too short to compare the first and last window's latency")
        drift = 1.0
    suite.ok = (growth <= MAX_GROWTH_MB and drift <= MAX_DRIFT and final.files <= start.files
                and final.threads <= start.threads and _delta(r, "py_threads") <= 0
                and _delta(r, "files") <= 0 and not r.env_changed)
    if not suite.ok:
        suite.notes.append(f"FAILED: needs memory growth <= {MAX_GROWTH_MB:g} MB, drift <= {MAX_DRIFT:g}x, "
                           "no more open files or threads at the end than after the first window, every "
                           "file and Python thread closed with the pipeline, no environment change")
    return suite


def _stage_figures(r: Soak, window: float, end: float) -> list[Figure]:
    """Each part of the turn latency (and the LLM's prompt work), first window vs last: where a
    drift comes from."""
    out = []
    for name in (*STAGES, "prompt tokens evaluated"):
        first = [st[name] for t, st in r.stages if t <= window and name in st]
        last = [st[name] for t, st in r.stages if t >= end - window and name in st]
        if first and last:
            unit = "" if name == "prompt tokens evaluated" else "s"
            out.append(Figure(f"  {name}, first window median", statistics.median(first), unit))
            out.append(Figure(f"  {name}, last window median", statistics.median(last), unit))
    return out


def _load(r: Soak, t0: float, t1: float) -> float:
    loads = [s.load for s in r.samples if t0 <= s.t <= t1]
    return statistics.median(loads) if loads else float("nan")


def _slope_per_hour(samples: list[Sample]) -> float:
    if len(samples) < 3:
        return 0.0
    ts = [s.t / 3600 for s in samples]
    return statistics.linear_regression(ts, [s.rss for s in samples]).slope


def _delta(r: Soak, what: str) -> float:
    if r.before is None or r.after is None:
        return float("nan")
    return float(getattr(r.after, what) - getattr(r.before, what))


def _pair(r: Soak, what: str) -> str:
    if r.before is None or r.after is None:
        return "-"
    return f"{getattr(r.before, what)} → {getattr(r.after, what)}"
