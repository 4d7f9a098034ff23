"""``agent bench serve``: how many people can talk to one ``agent serve`` at once on this machine.

It starts ``agent serve`` (the real models, loopback) and, for N = 1, 2, 3, ... up to
``--sessions``, connects N scripted WebRTC peers (aiortc, ``agent.serve.client``) at once. Each
waits for the greeting, then asks a question in Piper's voice at real-time pace, all N together,
and measures from its own side: end of its speech → the agent's voice arriving (the whole path:
Opus both ways, VAD, Whisper, the shared LLM's queue, Piper), and the video frames it received
per second. The server's operator API adds the frames that were newly rendered (the rest repeat
the last frame: the face stood still) and the audio underruns (gaps in the middle of a reply).
N holds real time when every session got ≥ 28.5 fresh frames/s and no underrun; the peers run
on the same machine as the server and take their share of its cores (they decode the video).
"""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

from agent.bench.report import BenchOptions, Figure, Suite, Timing

QUESTIONS = (
    "Can you help me with fractions?",
    "What is one half plus one quarter?",
    "Why do we need a common denominator?",
    "Is three quarters bigger than two thirds?",
)
REAL_TIME_FPS = 28.5  # of 30: a frame in twenty late is not a stall anyone sees
TURN_TIMEOUT = 120.0


def _voices(n: int) -> list[np.ndarray]:
    """The questions in Piper's voice, 48 kHz, with a little silence after each."""
    import soxr

    from agent.tts import Prosody, make_tts
    from persona.config import Voice

    tts = make_tts(Voice(backend="piper", rate=1.0))
    out = []
    for text in (QUESTIONS * (n // len(QUESTIONS) + 1))[:n]:
        audio = np.concatenate([c.audio for c in tts.synthesize(text, Prosody.of_voice(Voice()))])
        out.append(soxr.resample(audio, tts.sample_rate, 48000).astype(np.float32))
    return out


def _start_server(persona: str, config: str | None, sessions: int) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "agent.cli", "serve", "--port", "0", "--max-sessions", str(sessions),
           "--persona", persona] + (["--config", config] if config else [])
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    said: list[str] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        said.append(line)
        if found := re.search(r"at (http://127\.0\.0\.1:\d+/)", line):
            import threading

            threading.Thread(target=lambda: said.extend(proc.stderr or ()), daemon=True).start()
            return proc, found.group(1)
    proc.kill()
    raise RuntimeError("agent serve did not start: " + "".join(said[-10:]))


async def _level(url: str, voices: list[np.ndarray]) -> list[dict[str, Any]]:
    """N peers at once: connect, greeting, one question each, all together."""
    import httpx

    from agent.serve.client import ScriptedPeer

    peers = [ScriptedPeer(url) for _ in voices]
    results: list[dict[str, Any]] = []
    try:
        await asyncio.gather(*(p.connect() for p in peers))
        await asyncio.gather(*(p.wait_for(lambda m: m["type"] == "agent", TURN_TIMEOUT) for p in peers))
        async with httpx.AsyncClient(base_url=url, timeout=10) as api:
            before = {s["id"]: s for s in (await api.get("/api/sessions")).json()["sessions"]}
            t0 = asyncio.get_running_loop().time()
            marks = [len(p.messages) for p in peers]
            spoke = await asyncio.gather(*(p.say(v) for p, v in zip(peers, voices)))
            answered = await asyncio.gather(*(p.wait_for(lambda m: m["type"] == "agent", TURN_TIMEOUT, after=k)
                                              for p, k in zip(peers, marks)), return_exceptions=True)
            t1 = asyncio.get_running_loop().time()
            after = {s["id"]: s for s in (await api.get("/api/sessions")).json()["sessions"]}
        for peer, said, reply in zip(peers, spoke, answered):
            first = peer.first_voice_after(said)
            a, b = before[peer.id], after[peer.id]
            results.append({
                "answered": not isinstance(reply, BaseException),
                "heard": [m["text"] for m in peer.messages if m["type"] == "user"],
                "latency": None if first is None else first - said,
                "fps_received": peer.fps(t0, t1),
                "fps_fresh": (b["fresh_frames_sent"] - a["fresh_frames_sent"]) / (t1 - t0),
                "underruns": b["underruns"] - a["underruns"],
            })
    finally:
        for p in peers:
            p.hang_up()
        await asyncio.gather(*(p.aclose() for p in peers), return_exceptions=True)
    await _until_empty(url)
    return results


async def _until_empty(url: str) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=10) as api:
        for _ in range(100):
            if (await api.get("/api/health")).json()["sessions"] == 0:
                return
            await asyncio.sleep(0.2)


def _levels(most: int) -> list[int]:
    return list(range(1, most + 1)) if most <= 4 else sorted({1, 2, 3, 4, *range(6, most + 1, 2), most})


def run(opts: BenchOptions) -> Suite:
    from agent.core.errors import UserError
    from agent.serve import ice

    suite = Suite("serve")
    most = 1 if opts.quick else int(opts.extra.get("sessions") or 4)
    if most < 1:
        raise UserError("--sessions must be 1 or more")
    persona = opts.extra.get("persona") or "tutor"
    voices = _voices(most)
    proc, url = _start_server(persona, opts.extra.get("config"), most)
    ice.loopback_only(True)  # the peers' media stays on loopback, as the server's does
    held = 0
    try:
        for n in _levels(most):
            results = asyncio.run(_level(url, voices[:n]))
            latencies = [r["latency"] for r in results if r["latency"] is not None]
            if latencies:
                suite.timings.append(Timing(f"N={n}: end of speech → first audio (peer)", latencies, "s"))
            suite.timings.append(Timing(f"N={n}: video fps received (peer)",
                                        [r["fps_received"] for r in results], "fps"))
            suite.timings.append(Timing(f"N={n}: fresh frames/s rendered (server)",
                                        [r["fps_fresh"] for r in results], "fps"))
            unanswered = [r["heard"] for r in results if not r["answered"]]
            if unanswered:
                suite.notes.append(f"N={n}: {len(unanswered)} of {n} peers got no answer within "
                                   f"{TURN_TIMEOUT:.0f} s (heard: {unanswered})")
            underruns = sum(r["underruns"] for r in results)
            suite.figures.append(Figure(f"N={n}: audio underruns", underruns))
            real_time = (len(latencies) == n and underruns == 0 and not unanswered
                         and min(r["fps_fresh"] for r in results) >= REAL_TIME_FPS
                         and min(r["fps_received"] for r in results) >= REAL_TIME_FPS)
            if real_time:
                held = n
            suite.notes.append(f"N={n}: {'real time' if real_time else 'NOT real time'} (median latency "
                               f"{statistics.median(latencies) if latencies else float('nan'):.2f} s)")
    finally:
        ice.loopback_only(False)
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    suite.figures.append(Figure("largest N in real time (30 fps fresh video, no underruns)", held))
    suite.models.update({"llm": "embedded Gemma 3 270M (one worker, fair queue)", "asr": "whisper tiny.en",
                         "tts": "piper en_US-joe-medium", "video": "VP8 512x512 30 fps (aiortc)"})
    suite.notes.append("the scripted peers run on the same machine and decode the video too")
    return suite
