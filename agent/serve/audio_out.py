"""The agent's voice as a WebRTC audio track, and the session's master clock.

``PeerAudioOutput`` is the session's ``AudioOutput`` (``agent.core.stages``): the responder
queues speech into a bounded FIFO (``play`` waits while half a second is queued, nothing is ever
dropped) and ``AgentAudioTrack.recv`` takes 20 ms from it each time aiortc asks, paced at real
time, silence when nothing is queued. ``position`` counts the speech samples sent (as a sound card's
output counts the samples it played, not the silence between), so lip-sync,
barge-in's "how much was heard" and the face all run on the clock of the audio that left.
A frame that finds the FIFO empty in the middle of an utterance is an underrun: an audible gap.
"""

from __future__ import annotations

import asyncio
import fractions
import threading

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from agent.audio_out import FADE_S, _Fifo
from agent.core.speech import SpeechChunk

RATE = 48_000  # Opus's rate: no resampling in the encoder
PTIME = 0.020
FRAME = int(RATE * PTIME)


def _to_rate(chunk: SpeechChunk) -> np.ndarray:
    audio = np.asarray(chunk.audio, dtype=np.float32).reshape(-1)
    if chunk.sample_rate == RATE or not len(audio):
        return audio
    import soxr

    return soxr.resample(audio, chunk.sample_rate, RATE).astype(np.float32)


class PeerAudioOutput:
    """Speech queued for the peer; the track's ``recv`` is its playback."""

    sample_rate = RATE

    def __init__(self, buffer_s: float = 0.5) -> None:
        self._capacity = int(buffer_s * RATE)
        self._fifo = _Fifo()
        self._lock = threading.Lock()  # the FIFO is filled on the loop and may be read by a bench thread
        self._sent = 0  # samples of speech handed to the encoder: the clock (silence does not count)
        self._utterance_start = 0
        self._generation = 0
        self._room = asyncio.Event()
        self.speaking = False  # between start_utterance and the end of its audio
        self.underruns = 0  # gaps in the middle of an utterance
        self._starved = False
        self._had_audio = False  # this utterance has sent speech (a gap before it is no gap)
        self._draining = False  # the utterance's last audio is queued: running dry is its end
        self.cancel_latency: float | None = 0.0
        self.closed = False

    # -- the track (event loop, paced by ``AgentAudioTrack``)
    def pull(self) -> np.ndarray:
        """The next 20 ms: speech where queued, silence after it."""
        out = np.zeros(FRAME, dtype=np.float32)
        with self._lock:
            n = self._fifo.pull(out)
            self._sent += n
            self._had_audio = self._had_audio or n > 0
            if self.speaking and self._had_audio and not self._draining and n < FRAME:
                if not self._starved:
                    self.underruns += 1  # once per gap, however long
                self._starved = True
            elif n == FRAME:
                self._starved = False
        self._room.set()
        return out

    # -- AudioOutput
    def position(self) -> int:
        return self._sent

    def clock(self) -> float:
        return self._sent / RATE

    def start_utterance(self) -> None:
        with self._lock:
            self._utterance_start = self._sent + self._fifo.size
        self.speaking = True
        self._starved = self._had_audio = self._draining = False

    def heard(self) -> int:
        return max(0, self._sent - self._utterance_start)

    async def play(self, chunk: SpeechChunk) -> None:
        audio = await asyncio.to_thread(_to_rate, chunk) if len(chunk.audio) > 4800 else _to_rate(chunk)
        generation = self._generation
        self.speaking, self._draining = True, False  # a paused reply resumed goes on here
        offset = 0
        while offset < len(audio):
            with self._lock:
                if generation != self._generation:
                    return  # cancelled while waiting: this chunk belonged to the cut utterance
                take = min(self._capacity - self._fifo.size, len(audio) - offset)
                if take > 0:
                    self._fifo.push(audio[offset:offset + take])
                    offset += take
            if offset < len(audio):
                if self.closed:
                    return
                self._room.clear()
                try:  # the track frees room every 20 ms; the timeout covers a peer that stopped reading
                    await asyncio.wait_for(self._room.wait(), 0.1)
                except TimeoutError:
                    pass

    def cancel(self) -> int:
        heard = self.heard()
        with self._lock:
            self._generation += 1
            self._fifo.cut(int(FADE_S * RATE))
            self._utterance_start = self._sent + self._fifo.size
        self.speaking = False
        self._room.set()
        return heard

    async def drain(self) -> None:
        self._draining = True
        while not self.closed:
            with self._lock:
                if self._fifo.size == 0:
                    break
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), 0.1)
            except TimeoutError:
                pass
        self.speaking = False

    async def aclose(self) -> None:
        self.closed = True
        self._room.set()


class AgentAudioTrack(MediaStreamTrack):
    """20 ms s16 mono frames at 48 kHz from ``output``, paced on the loop's clock from the first
    frame (a late wake-up sends the frames it owes at once rather than drifting)."""

    kind = "audio"

    def __init__(self, output: PeerAudioOutput) -> None:
        super().__init__()
        self.output = output
        self._start: float | None = None
        self._frames = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live" or self.output.closed:
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._frames * PTIME
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        samples = self.output.pull()
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._frames * FRAME
        frame.time_base = fractions.Fraction(1, RATE)
        self._frames += 1
        return frame
