"""Sentence streaming: sentence k+1 is synthesized while sentence k is being played.

The LLM writes sentences one by one; each complete sentence goes to the TTS at once, in a worker
thread, and its chunks wait in a small bounded channel (the producer waits when it is full, audio
is never dropped). Time from the first complete sentence to its first audio sample is measured
and put in the first chunk's ``meta["first_audio_s"]``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace

from agent.core.channel import Channel, ChannelClosed, Overflow
from agent.core.speech import SpeechChunk
from agent.core.stages import TTS, Prosody
from agent.core.tasks import TaskOwner

log = logging.getLogger(__name__)

LOOKAHEAD = 2  # chunks synthesized ahead of the consumer


async def speak_sentences(tts: TTS, sentences: AsyncIterator[str], prosody: Prosody,
                          cancel: threading.Event | None = None, *, lookahead: int = LOOKAHEAD,
                          clock: Callable[[], float] = time.monotonic) -> AsyncIterator[SpeechChunk]:
    """Chunks of every sentence, in order, synthesized ``lookahead`` chunks ahead.

    Each chunk's ``sentence_index`` counts the sentences of this stream and its ``meta`` holds
    ``synth_s`` (synthesis time) and ``rtf`` (synthesis time / audio time); the first chunk also
    holds ``first_audio_s``. Setting ``cancel`` stops synthesis within one backend step and ends
    the stream; closing the stream before its end sets ``cancel`` (one event per utterance), which
    stops the worker thread too.
    """
    cancel = cancel if cancel is not None else threading.Event()
    channel: Channel[SpeechChunk | BaseException] = Channel(lookahead, Overflow.WAIT, "tts-stream")
    owner = TaskOwner("tts-stream")

    async def produce() -> None:
        index = 0
        first_sentence_at: float | None = None
        try:
            async for sentence in sentences:
                if cancel.is_set():
                    break
                if not sentence.strip():
                    continue
                if first_sentence_at is None:
                    first_sentence_at = clock()
                chunks = tts.synthesize(sentence, prosody, cancel)
                started = clock()
                while not cancel.is_set():
                    chunk = await asyncio.to_thread(_next, chunks)
                    if chunk is None:
                        break
                    done = clock()
                    meta = dict(chunk.meta)
                    meta["synth_s"] = done - started
                    meta["rtf"] = (done - started) / max(chunk.duration, 1e-6)
                    if first_sentence_at is not None and index == 0 and "first_audio_s" not in meta:
                        meta["first_audio_s"] = done - first_sentence_at
                        first_sentence_at = None
                    await channel.put(replace(chunk, sentence_index=index, meta=meta))
                    started = clock()
                index += 1
        except ChannelClosed:
            pass
        except Exception as e:  # the consumer re-raises it in its own task
            if not channel.closed:
                channel.put_control(e)
        finally:
            channel.close()

    owner.spawn(produce(), "synthesize")
    exhausted = False
    try:
        async for item in channel:
            if isinstance(item, BaseException):
                raise item
            if cancel.is_set():
                break
            yield item
        exhausted = True
    finally:
        if not exhausted:  # closed early: the worker thread must stop at its next step
            cancel.set()
        channel.close()
        await owner.aclose()


def _next(chunks: Iterator[SpeechChunk]) -> SpeechChunk | None:
    return next(chunks, None)
