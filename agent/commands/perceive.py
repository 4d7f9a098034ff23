"""``agent perceive``: perception on its own — what the agent hears (and sees) in a file."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from agent.commands import common
from agent.core.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "perceive", help="what the agent hears and sees in a file (speech, transcript, affect)",
        description="Run perception alone: --input-audio prints the timeline of speech segments with "
                    "transcript and voice affect (VAD + confidence); --input-video / --image print "
                    "face analysis. Usable for evaluation.")
    p.add_argument("--input-audio", metavar="FILE", help="audio (or video) file in any common format")
    p.add_argument("--input-video", metavar="FILE", help="video file: face timeline")
    p.add_argument("--image", metavar="FILE", help="one image: face analysis")
    p.add_argument("--json", action="store_true", help="JSON on stdout instead of a table")
    p.add_argument("--asr-model", metavar="NAME|PATH",
                   help="faster-whisper model name or CTranslate2 directory (default: bundled tiny.en)")
    p.add_argument("--allow-download", action="store_true",
                   help="let --asr-model NAME be downloaded from Hugging Face (once)")
    p.add_argument("--vad-threshold", type=float, default=0.5, help="speech probability (default 0.5)")
    p.add_argument("--min-silence-ms", type=int, default=256, help="silence that splits utterances")
    p.add_argument("--speech-pad-ms", type=int, default=96, help="audio kept around each utterance")
    common(p, persona=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not (args.input_audio or args.input_video or args.image):
        raise UserError("give something to perceive: --input-audio FILE, --input-video FILE or --image FILE")
    out: dict[str, Any] = {}
    if args.input_audio:
        out["audio"] = asyncio.run(perceive_audio(Path(args.input_audio), args))
    if args.input_video:
        out["video"] = _face("perceive_video", args.input_video)
    if args.image:
        out["image"] = _face("perceive_image", args.image)
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        print()
    else:
        _print(out)
    return 0


def _face(name: str, path: str) -> Any:
    if not Path(path).is_file():
        raise UserError(f"no such file: {path}")
    try:
        from perception import face_timeline
    except ImportError as e:
        print(f"agent: face analysis is not available ({e}); skipping {path}", file=sys.stderr)
        return None
    return getattr(face_timeline, name)(path)


async def perceive_audio(path: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The hearing stage itself, run over the file as fast as it can: every segment it heard."""
    from agent.core.bus import EventBus
    from agent.turn_taking import listen
    from perception.asr import WhisperAsr
    from perception.audio_source import FileAudioSource
    from perception.hearing import HeardSegment, Hearing, HearingConfig
    from perception.vad import SileroVad, VadConfig
    from perception.voice_affect import VoiceAffect

    source = FileAudioSource(path, realtime=False)
    config = HearingConfig(vad=VadConfig(threshold=args.vad_threshold, min_silence_ms=args.min_silence_ms,
                                         speech_pad_ms=args.speech_pad_ms))
    asr = await asyncio.to_thread(WhisperAsr, args.asr_model, allow_download=args.allow_download,
                                  progress=lambda s: print(f"agent: {s}", file=sys.stderr, flush=True))
    heard: list[HeardSegment] = []
    bus = EventBus()
    hearing = Hearing(bus, source, asr, SileroVad(), VoiceAffect(), config=config, on_segment=heard.append)
    listen(bus, hearing)
    try:
        await hearing.run()
    finally:
        await hearing.aclose()
    return [_segment(h) for h in heard if h.ignored != "burst"]


def _segment(h: Any) -> dict[str, Any]:
    seg, a = h.segment, h.affect
    return {
        "start": round(seg.start, 3), "end": round(seg.end, 3),
        "speech": [round(seg.onset, 3), round(seg.offset, 3)],
        "vad_confidence": round(seg.confidence, 3),
        "text": h.text,
        "words": [[w, round(s, 3), round(e, 3)] for w, s, e in h.words],
        "voice_affect": None if a is None else {
            "vad": [round(x, 3) for x in a.vad], "confidence": a.confidence, "label": a.label,
            "cues": a.cues},
        "asr_seconds": round(h.asr_s, 3),
    }


def _print(out: dict[str, Any]) -> None:
    for s in out.get("audio") or []:
        a = s["voice_affect"]
        affect = (f"V{a['vad'][0]:+.2f} A{a['vad'][1]:+.2f} D{a['vad'][2]:+.2f} "
                  f"conf {a['confidence']:.2f} ({a['cues']})") if a else "-"
        print(f"{s['start']:7.2f}–{s['end']:6.2f}s  speech {s['vad_confidence']:.2f}  {s['text']!r}")
        print(f"{'':17}voice: {affect}")
    if "audio" in out and not out["audio"]:
        print("no speech found")
    for key in ("video", "image"):
        if out.get(key) is not None:
            print(f"{key}: {json.dumps(out[key])[:2000]}")
