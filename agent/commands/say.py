"""``agent say``: speak a text in a persona's voice with an emotion, to the speakers or a file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

from agent.commands import common
from agent.core.errors import UserError

if TYPE_CHECKING:
    from agent.core.speech import SpeechChunk
    from persona.config import Persona
    from persona.emotion import Emotion


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "say", help="speak a text in a persona's voice, with an emotion",
        description="Synthesize TEXT in the persona's voice with the prosody of an emotion; play "
                    "it, or write a .wav (or an .mp4 with the animated face).")
    common(p)
    p.add_argument("--text", required=True, help="what to say ('-' reads standard input)")
    p.add_argument("--emotion", metavar="LABEL|LABEL:I|V,A,D",
                   help="e.g. joy, sadness:0.5 or 0.8,0.5,0.4; write --emotion=-0.5,0.2,0 when V is "
                        "negative (default: the persona's baseline mood)")
    p.add_argument("--output", "-o", metavar="PATH", help="write .wav or .mp4 instead of playing")
    p.add_argument("--device", metavar="NAME|INDEX",
                   help="audio output when playing (e.g. agent_mic, the virtual microphone)")
    p.add_argument("--avatar-photo", metavar="PATH",
                   help="animate this portrait instead of the persona's avatar (.mp4 output; "
                        "PATH#N picks face N, 0 = leftmost, in a group picture)")
    p.add_argument("--timings", metavar="PATH.json", help="also write the phoneme and word timings")
    p.add_argument("--renderer", metavar="NAME",
                   help="a renderer another package registers (entry point embodied_agent.renderers)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from persona.config import get_persona
    from persona.emotion import Emotion, parse_emotion

    persona = get_persona(args.persona, args.config)
    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        raise UserError("--text is empty; give the words to say")
    if args.emotion:
        try:
            emotion = parse_emotion(args.emotion)
        except ValueError as e:
            raise UserError(f"--emotion: {e}") from None
    else:
        emotion = Emotion.from_vad(persona.baseline_mood.as_tuple())
    suffix = args.output.rsplit(".", 1)[-1].lower() if args.output else None
    if suffix not in (None, "wav", "mp4"):
        raise UserError(f"--output {args.output}: write a .wav or an .mp4")
    return asyncio.run(_say(persona, text, emotion, args, suffix))


async def _say(persona: Persona, text: str, emotion: Emotion, args: argparse.Namespace,
               suffix: str | None) -> int:
    from agent.audio_out import DeviceAudioOutput, VirtualClockOutput
    from agent.tts import make_tts, prosody_for
    from agent.tts.stream import speak_sentences
    from agent.tts.timing import split_sentences

    tts = await asyncio.to_thread(make_tts, persona.voice, persona.language)
    prosody = prosody_for(emotion, persona.voice)

    async def sentences():  # the whole text is ready: each sentence at once
        for s in split_sentences(text):
            yield s

    out: Any = (DeviceAudioOutput(device=_device(args.device), sample_rate=tts.sample_rate)
                if suffix is None else VirtualClockOutput(tts.sample_rate))
    chunks = []
    try:
        out.start_utterance()
        async for chunk in speak_sentences(tts, sentences(), prosody):
            chunks.append(chunk)
            await out.play(chunk)
        await out.drain()
    except (KeyboardInterrupt, asyncio.CancelledError):
        out.cancel()
        raise
    finally:
        await out.aclose()
    if not chunks:
        raise UserError("nothing to say: the text has no speakable words")
    if args.timings:
        _write_timings(args.timings, chunks)
    seconds = sum(c.duration for c in chunks)
    first = chunks[0].meta.get("first_audio_s", 0.0)
    what = (f"{emotion.label} {emotion.intensity:.2f}, {tts.name}, {seconds:.2f} s of speech, "
            f"first audio after {first * 1000:.0f} ms")
    if suffix == "wav":
        import soundfile

        soundfile.write(args.output, out.audio(), tts.sample_rate, subtype="PCM_16")
        print(f"wrote {args.output} ({what})")
    elif suffix == "mp4":
        try:
            from render.clip import render_clip
        except ImportError:
            raise UserError("writing .mp4 needs the face renderer (render.clip), which this build "
                            "does not have yet; write a .wav instead") from None
        changes = {k: v for k, v in (("photo", getattr(args, "avatar_photo", None)),
                                     ("renderer", getattr(args, "renderer", None))) if v}
        if changes:
            persona = persona.model_copy(update={"avatar": persona.avatar.model_copy(update=changes)})
        render_clip(persona, chunks, emotion, args.output, seed=0)
        print(f"wrote {args.output} ({what})")
    else:
        print(f"said it ({what})")
    return 0


def _device(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def _write_timings(path: str, chunks: list[SpeechChunk]) -> None:
    """Phoneme and word timings on the utterance's clock (seconds from its first sample)."""
    import json

    offset, phonemes, words = 0.0, [], []
    for c in chunks:
        phonemes += [{"phoneme": p.phoneme, "start": round(offset + p.start, 5),
                      "end": round(offset + p.end, 5), "stress": p.stress} for p in c.phonemes]
        words += [{"word": w.word, "start": round(offset + w.start, 5), "end": round(offset + w.end, 5)}
                  for w in c.words]
        offset += c.duration
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"duration": round(offset, 5), "phonemes": phonemes, "words": words}, f,
                  ensure_ascii=False, indent=1)
