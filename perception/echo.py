"""The echo gate: is what the microphone hears the agent's own voice coming back?

The session pushes every chunk it plays (``push(audio, sample_rate, t_start)``, ``t_start`` on
the monotonic clock the microphone frames are mapped to). Per microphone frame the gate:

1. tracks the echo path's delay (0–``max_delay``) by normalised cross-correlation of the last
   256 ms of microphone against what was played;
2. cancels the echo with a short frequency-domain adaptive filter (constrained MDF, 32 ms
   partitions covering the room's tail) aligned at that delay, adapting while the microphone
   clearly hears only the agent and nearly freezing during double talk;
3. reports the share of the frame's energy (above the noise floor) the echo does not explain,
   and the cleaned frame for the VAD and ASR.

The agent's echo alone leaves little once the filter has learnt the room (``certain``); a user
talking over it leaves their voice. Until the path is learnt — the first second or two of the
agent's first utterance — frames heard while it plays are uncertain and callers treat them as
echo; if no echo is ever found (headphones) the gate gets out of the way after ``settle``.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import numpy as np

from perception.audio_source import FRAME, SAMPLE_RATE
from perception.echo_bound import BANDS, EchoBound, band_power


@dataclass(frozen=True, slots=True)
class EchoVerdict:
    residual: float  # share of the frame's energy the echo does not explain, in [0, 1]
    playing: bool  # reference audio was playing around this frame
    delay: float | None  # the tracked echo delay, seconds
    gain: float | None  # the echo's level relative to what is played
    cleaned: np.ndarray  # the frame with the estimated echo subtracted
    certain: bool = True  # False in the first moments of playback, before the echo path is known
    above_floor_db: float = 99.0  # the cleaned frame's energy over the room's noise floor


class EchoReference:
    def __init__(self, *, max_delay: float = 0.3, room_tail: float = 0.15, keep: float = 8.0,
                 mu: float = 1.0, corr_threshold: float = 0.45, settle: float = 0.5,
                 converged_below: float = 0.15) -> None:
        self.max_delay = max_delay
        self.keep = keep
        self.mu = mu
        self.corr_threshold = corr_threshold
        self.settle = settle
        self.converged_below = converged_below  # residual share of the echo alone once learnt
        self.double_talk_ratio = 4.0  # before it is learnt: 6 dB over the echo's expected energy is a voice
        self.pre = 0.016  # the filter starts this much before the delay found
        self.taps = int(np.ceil((room_tail + self.pre) * SAMPLE_RATE / FRAME))  # filter partitions
        self._W = np.zeros((self.taps, FRAME + 1), np.complex128)  # the echo path, per partition
        self._P: np.ndarray | None = None
        self._playing_since: float | None = None
        self._moved = 0
        # frames that must agree on the delay before it is first taken: one whole tracking
        # window of new audio, since consecutive windows share most of their samples
        self.confirm = 8
        self._candidate: float | None = None
        self._agreeing = 0
        self._levels: collections.deque[float] = collections.deque(maxlen=64)  # 2 s of frame energies
        # the room's noise as heard while nothing plays (the quietest of the last 10 s of such
        # frames): during a long reply the quietest recent frame is the echo's, not the room's
        self._quiet: collections.deque[float] = collections.deque(maxlen=312)
        self._quiet_bands: collections.deque[np.ndarray] = collections.deque(maxlen=312)  # ... per band
        self.bound = EchoBound()  # the loudest echo per band: a voice over an echo not learnt yet
        self._tail_rows = int(np.ceil(room_tail * SAMPLE_RATE / (FRAME // 2)))  # the bound's tail, half frames
        self.erle_residual = 1.0
        self.converged = False
        self._chunks: collections.deque[tuple[float, np.ndarray]] = collections.deque()
        self._lock = threading.Lock()  # push() comes from the playback path, assess() from hearing
        self._mic: collections.deque[np.ndarray] = collections.deque(maxlen=8)
        self.delay: float | None = None
        self.gain: float | None = None

    # ------------------------------------------------------------------ reference in
    def push(self, audio: np.ndarray, sample_rate: int, t_start: float) -> None:
        """What the speaker plays, starting at ``t_start`` (seconds on the mic frames' clock)."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if sample_rate != SAMPLE_RATE:
            import soxr

            audio = soxr.resample(audio, sample_rate, SAMPLE_RATE)
        with self._lock:
            self._chunks.append((float(t_start), np.ascontiguousarray(audio, np.float32)))
            horizon = float(t_start) - self.keep
            while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) / SAMPLE_RATE < horizon:
                self._chunks.popleft()

    def clear(self) -> None:
        """Playback was flushed (barge-in): what was queued will not be heard."""
        with self._lock:
            self._chunks.clear()

    def cut_after(self, t: float) -> None:
        """Playback stopped at ``t`` (barge-in): drop what was queued but will not be played."""
        with self._lock:
            kept: collections.deque[tuple[float, np.ndarray]] = collections.deque()
            for start, audio in self._chunks:
                n = int(round((t - start) * SAMPLE_RATE))
                if n > 0:
                    kept.append((start, audio[:n]))
            self._chunks = kept

    def reference(self, t0: float, n: int) -> np.ndarray:
        """``n`` samples of what was played from ``t0`` on (zeros where nothing was)."""
        out = np.zeros(n, np.float32)
        with self._lock:
            chunks = list(self._chunks)
        for start, audio in chunks:
            a = int(round((start - t0) * SAMPLE_RATE))
            lo, hi = max(a, 0), min(a + len(audio), n)
            if lo < hi:
                out[lo:hi] = audio[lo - a:hi - a]
        return out

    def playing(self, t0: float, t1: float) -> bool:
        with self._lock:
            return any(s < t1 and s + len(a) / SAMPLE_RATE > t0 for s, a in self._chunks)

    # ------------------------------------------------------------------ mic frames
    def assess(self, samples: np.ndarray, t: float) -> EchoVerdict:
        """Judge one microphone frame that started at ``t``; frames must come in order."""
        d = np.asarray(samples, np.float32)
        self._mic.append(d)
        frame_s = FRAME / SAMPLE_RATE
        if not self.playing(t - self.max_delay - self.taps * frame_s, t + frame_s):
            self._levels.append(float(np.dot(d, d)))
            self._quiet.append(float(np.dot(d, d)))
            self._quiet_bands.append(band_power(d))
            self._playing_since = None
            return EchoVerdict(1.0, False, self.delay, self.gain, d, True, self._above_floor(d))
        if self._playing_since is None:
            self._playing_since = t
        corr = self._track(t)
        if self.delay is None:
            # no echo path yet: the first moments are uncertain; after that, none is heard
            # (headphones, a muted speaker) and the microphone is all user
            sure = t - self._playing_since > self.settle
            return EchoVerdict(1.0, True, None, None, d, sure, self._above_floor(d))
        base = t - max(0.0, self.delay - self.pre)
        X = np.stack([np.fft.rfft(self.reference(base - (k + 1) * frame_s, 2 * FRAME))
                      for k in range(self.taps)])
        y = np.fft.irfft(np.sum(self._W * X, axis=0))[FRAME:]
        e = d - y.astype(np.float32)
        d_e, e_e = float(np.dot(d, d)), float(np.dot(e, e))
        out = e if e_e <= d_e else d  # never report more than was heard
        # adapt fast while the microphone is clearly the echo, barely while someone talks over it
        # (double talk: once learnt, a frame the filter cannot explain is someone else)
        double_talk = corr < self.corr_threshold or (self.converged and e_e > 0.5 * d_e)
        mu = self.mu * 0.02 if double_talk else self.mu
        E = np.fft.rfft(np.concatenate([np.zeros(FRAME, np.float32), e]))
        power = np.sum(np.abs(X) ** 2, axis=0)
        # the step is normalised by the reference power; a sudden rise must not make it overshoot
        self._P = np.maximum(0.7 * self._P + 0.3 * power, power) if self._P is not None else power
        grad = np.conj(X) * E / (self._P + 0.01 * float(np.mean(self._P)) + 1e-6)
        g = np.fft.irfft(grad, axis=1)
        g[:, FRAME:] = 0  # the constraint that keeps it a linear (not circular) filter
        self._W += mu * np.fft.rfft(g, axis=1)
        # the room's noise is neither echo nor user: leave it out of the ratio (minimum statistics)
        self._levels.append(d_e)
        floor = min(self._levels)
        residual = min(1.0, max(e_e - floor, 0.0) / (d_e - floor)) if d_e > 2 * floor + 1e-10 else 0.0
        if corr >= self.corr_threshold and not self.converged:  # how well the echo alone is cancelled
            self.erle_residual = 0.9 * self.erle_residual + 0.1 * residual
            # learnt well enough to tell the user from the echo; it stays learnt until the path moves
            self.converged = self.erle_residual < self.converged_below
        voice = self._over_bound(d, t)  # learnt on every frame; it decides only while the filter learns
        certain = self.converged
        if not certain and self.gain is not None:
            # not learnt yet, but the path's delay and level are: far more energy than the echo
            # at that level could bring is someone talking over it (a Geigel-style test), and so
            # is energy in bands where what was just played could have made next to none
            echo_e = self.gain ** 2 * float(np.dot(ref_now := self.reference(t - self.delay, FRAME), ref_now))
            if d_e > self.double_talk_ratio * max(echo_e, floor):
                certain, residual = True, max(residual, 1.0 - echo_e / d_e)
            elif voice > 0.0:
                certain, residual = True, max(residual, voice)
        return EchoVerdict(residual, True, self.delay, self.gain, out, certain, self._above_floor(out))

    def _over_bound(self, d: np.ndarray, t: float) -> float:
        """``EchoBound.unexplained`` for mic frame ``d`` at ``t``: what was played over the
        delay and the room's tail, in half-frame steps."""
        assert self.delay is not None
        hop = FRAME // 2
        span = self.reference(t - self.delay - self._tail_rows * hop / SAMPLE_RATE, self._tail_rows * hop + FRAME)
        played = np.lib.stride_tricks.sliding_window_view(span, FRAME)[::hop]
        noise = np.min(self._quiet_bands, axis=0) if self._quiet_bands else np.zeros(BANDS)
        return self.bound.unexplained(d, played, noise)

    def _above_floor(self, frame: np.ndarray) -> float:
        """dB of ``frame``'s energy over the room's noise: the quietest frame heard while nothing
        played, else the quietest of the last 2 s."""
        floor = min(self._quiet, default=0.0) or min(self._levels, default=0.0)
        if floor <= 0.0:
            return 99.0
        return 10.0 * float(np.log10(max(float(np.dot(frame, frame)), 1e-20) / floor))

    def _track(self, t: float) -> float:
        """Delay and level of the echo from the last ~256 ms; returns the peak normalised
        correlation (high: the microphone hears mostly the agent)."""
        mic = np.concatenate(self._mic)
        n = len(mic)
        if n < 4 * FRAME or float(np.dot(mic, mic)) < 1e-6:
            return 0.0
        t_end = t + FRAME / SAMPLE_RATE
        lags = int(self.max_delay * SAMPLE_RATE)
        ref = self.reference(t_end - (n + lags) / SAMPLE_RATE, n + lags)
        if float(np.dot(ref, ref)) < 1e-6:
            return 0.0
        size = 1 << int(np.ceil(np.log2(n + lags + n)))
        # xc[l] = sum_i mic[i] * ref[i + lags - l]: the mic lagging the reference by l samples
        xc = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(mic, size)), size)[:lags + 1][::-1]
        energy = np.cumsum(np.concatenate([[0.0], ref.astype(np.float64) ** 2]))
        starts = lags - np.arange(lags + 1)
        ref_e = energy[starts + n] - energy[starts]
        norm = xc / np.sqrt(np.maximum(ref_e, 1e-12) * float(np.dot(mic, mic)))
        best = int(np.argmax(norm))
        if norm[best] >= self.corr_threshold and ref_e[best] > 1e-6:
            delay = best / SAMPLE_RATE
            self.gain = float(np.sqrt(float(np.dot(mic, mic)) / ref_e[best]))
            if self.delay is None:
                # a real echo correlates at the same lag frame after frame; a user's voice
                # against the agent's (with headphones: no echo at all) can peak for a moment,
                # and a lock on that would leave the gate waiting for an echo that never comes
                same = self._candidate is not None and abs(delay - self._candidate) <= self.pre
                self._candidate, self._agreeing = delay, self._agreeing + 1 if same else 1
                if self._agreeing >= self.confirm:
                    self.delay, self._candidate, self._agreeing = delay, None, 0
            elif abs(delay - self.delay) > self.pre:  # the path moved: confirm, then re-learn
                self._moved += 1
                if self._moved >= 6:
                    self.delay, self._moved = delay, 0
                    self._W[:] = 0
                    self.bound.reset()
                    self.erle_residual, self.converged = 1.0, False
            else:
                self._moved = 0
        return float(norm[best])
