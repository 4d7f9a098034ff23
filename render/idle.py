"""Being alive when nothing is said: blinks, saccades and gaze, head sway, and the small
time primitives the rest of the animation layer schedules with.

Every stochastic stream here draws from its own seeded generator and decides the time of its
next event from the state *at its previous event*, never from when it is queried, so a frame
is a pure function of the schedule and the seed, whatever the frame rate or query pattern.

Blink statistics: Bentivoglio et al. (1997) — about 17/min at rest, 26/min in conversation,
log-normal intervals; Doughty (2001) — conversation 95% range 10.5–32.5/min.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from agent.core.face_state import INDEX

T = TypeVar("T")

BLINK_REST_PER_MIN = 17.0
BLINK_CONVERSATION_PER_MIN = 26.0
BLINK_SIGMA = 0.55  # log-normal shape of blink intervals (coefficient of variation ≈ 0.6)
BLINK_REFRACTORY = 0.3  # seconds: no blink starts sooner than this after the previous one
_BLINK_CLOSE, _BLINK_HOLD, _BLINK_OPEN = 0.06, 0.03, 0.12  # lids close fast, open slower
BLINK_DURATION = _BLINK_CLOSE + _BLINK_HOLD + _BLINK_OPEN


def smoothstep(x: np.ndarray | float) -> np.ndarray | float:
    """Cubic ease in/out on [0, 1] (clamped outside)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class Steps(Generic[T]):
    """A piecewise-constant value over time: the schedule of a state (listening, emotion...)."""

    def __init__(self, initial: T) -> None:
        self._times: list[float] = []
        self._values: list[T] = []
        self.initial = initial

    def set(self, t: float, value: T) -> None:
        # a change scheduled before the last one replaces the tail: the schedule is one timeline
        i = bisect_right(self._times, t)
        del self._times[i:], self._values[i:]
        self._times.append(t)
        self._values.append(value)

    def at(self, t: float) -> T:
        i = bisect_right(self._times, t) - 1
        return self._values[i] if i >= 0 else self.initial

    def forget_before(self, t: float) -> None:
        """Drop changes older than the one in force at ``t``."""
        i = bisect_right(self._times, t) - 1
        if i > 0:
            del self._times[:i], self._values[:i]


class Approach:
    """A piecewise-constant target approached from wherever the value was when it changed.

    Only the changes are stored, so any ``t`` is answered exactly and in O(log n), with no
    dependence on how often frames are taken. Subclasses say how the value approaches its
    target (``_approach``); each change may carry its own parameters.
    """

    def __init__(self, initial: np.ndarray, dtype: type = np.float64) -> None:
        self.dtype = dtype
        self.initial: np.ndarray = np.asarray(initial, dtype=dtype)
        self._times: list[float] = []
        self._starts: list[np.ndarray] = []
        self._targets: list[np.ndarray] = []
        self._params: list[object] = []

    def _change(self, t: float, start: np.ndarray, target: np.ndarray, params: object = None) -> None:
        i = bisect_right(self._times, t)
        del self._times[i:], self._starts[i:], self._targets[i:], self._params[i:]
        self._times.append(t)
        self._starts.append(start)
        self._targets.append(np.asarray(target, dtype=self.dtype))
        self._params.append(params)

    def _approach(self, dt: float, start: np.ndarray, target: np.ndarray, params: object) -> np.ndarray:
        raise NotImplementedError

    def value(self, t: float) -> np.ndarray:
        i = bisect_right(self._times, t) - 1
        if i < 0:
            return self.initial
        return self._approach(t - self._times[i], self._starts[i], self._targets[i], self._params[i])

    def target(self, t: float) -> np.ndarray:
        i = bisect_right(self._times, t) - 1
        return self._targets[i] if i >= 0 else self.initial

    def forget_before(self, t: float) -> None:
        i = bisect_right(self._times, t) - 1
        if i > 0:
            del self._times[:i], self._starts[:i], self._targets[:i], self._params[:i]


class Lag(Approach):
    """First-order approach (time constant ``tau``) to a piecewise-constant target."""

    def __init__(self, initial: np.ndarray, tau: float) -> None:
        super().__init__(initial, np.float64)
        self.tau = tau

    def set(self, t: float, target: np.ndarray) -> None:
        self._change(t, self.value(t), target)

    def _approach(self, dt: float, start: np.ndarray, target: np.ndarray, params: object) -> np.ndarray:
        k = math.exp(-dt / self.tau)
        return target + (start - target) * k


class SmoothNoise:
    """Band-limited noise: a few sinusoids per channel with seeded frequencies and phases.

    Cheap, smooth, stationary, unit variance per channel, and a pure function of ``t``.
    """

    def __init__(self, channels: int, seed: int | list[int], f_lo: float = 0.1,
                 f_hi: float = 0.6, partials: int = 3) -> None:
        rng = np.random.default_rng(seed)
        self.freq = 2 * np.pi * np.exp(rng.uniform(np.log(f_lo), np.log(f_hi), (partials, channels)))
        self.phase = rng.uniform(0, 2 * np.pi, (partials, channels))
        amp = rng.uniform(0.5, 1.0, (partials, channels))
        self.amp = amp / np.sqrt((amp ** 2).sum(axis=0) / 2.0)  # unit variance

    def __call__(self, t: float) -> np.ndarray:
        return (self.amp * np.sin(self.freq * t + self.phase)).sum(axis=0)


class EventStream(Generic[T]):
    """Events generated one after another on demand: ``step(t_prev, rng) -> (dt, payload)``.

    ``step`` sees only the previous event's time, so the sequence depends on the schedule and
    the seed, never on query times.
    """

    def __init__(self, seed: list[int], first: float,
                 step: Callable[[float, np.random.Generator], tuple[float, T]],
                 first_payload: T) -> None:
        self._rng = np.random.default_rng(seed)
        self._step = step
        self.times: list[float] = [first]
        self.payloads: list[T] = [first_payload]

    def upto(self, t: float) -> int:
        """Generate past ``t``; returns the index of the last event at or before ``t`` (-1: none)."""
        while self.times[-1] <= t:
            dt, payload = self._step(self.times[-1], self._rng)
            self.times.append(self.times[-1] + dt)
            self.payloads.append(payload)
        return bisect_right(self.times, t) - 1

    def forget_before(self, t: float) -> None:
        """Drop events older than ``t`` (keeps the last one before it: it is still in force)."""
        i = bisect_right(self.times, t) - 2
        if i > 0:
            del self.times[:i], self.payloads[:i]


# ------------------------------------------------------------------------------- blinks


def blink_rate(conversation: bool, arousal: float, neuroticism: float = 0.5) -> float:
    """Blinks per minute: conversation raises the rate, so do arousal and anxiety."""
    base = BLINK_CONVERSATION_PER_MIN if conversation else BLINK_REST_PER_MIN
    return base * (1.0 + 0.3 * max(0.0, arousal) - 0.15 * max(0.0, -arousal)) \
        * (0.9 + 0.2 * neuroticism)


def blink_profile(dt: float) -> float:
    """Lid closure ``dt`` seconds after a blink starts: fast close, short hold, slower open."""
    if dt < 0.0 or dt >= BLINK_DURATION:
        return 0.0
    if dt < _BLINK_CLOSE:
        return float(smoothstep(dt / _BLINK_CLOSE))
    if dt < _BLINK_CLOSE + _BLINK_HOLD:
        return 1.0
    return float(1.0 - smoothstep((dt - _BLINK_CLOSE - _BLINK_HOLD) / _BLINK_OPEN))


class Blinks:
    """Spontaneous blinks with log-normal intervals whose mean follows ``rate(t)`` (per minute)."""

    def __init__(self, seed: int, rate: Callable[[float], float], start: float = 0.0) -> None:
        self._rate = rate

        def step(t: float, rng: np.random.Generator) -> tuple[float, None]:
            mean = 60.0 / max(1.0, self._rate(t))
            mu = math.log(mean) - BLINK_SIGMA ** 2 / 2  # so that the mean interval is `mean`
            return max(BLINK_REFRACTORY, math.exp(mu + BLINK_SIGMA * rng.standard_normal())), None

        first = np.random.default_rng([seed, 11]).uniform(0.5, 2.5)
        self.stream: EventStream[None] = EventStream([seed, 12], start + first, step, None)

    def closure(self, t: float) -> float:
        i = self.stream.upto(t)
        return blink_profile(t - self.stream.times[i]) if i >= 0 else 0.0


# ------------------------------------------------------------------------------- gaze

Mode = str  # "idle" | "listening" | "speaking"

# (mean seconds between saccades, probability that a saccade looks away from the face)
_GAZE_HABITS: dict[str, tuple[float, float]] = {
    "idle": (1.4, 0.30), "listening": (1.8, 0.12), "speaking": (1.1, 0.35),
}
SACCADE_TIME = 0.045  # seconds a saccade takes (they are fast and ballistic)


@dataclass(frozen=True, slots=True)
class Fixation:
    offset: tuple[float, float]  # radians from the face being looked at (h, v)
    away: bool


class Gaze:
    """Fixations near the user's face with micro-saccades, and glances away (more while
    speaking, as people avert gaze when planning what to say)."""

    def __init__(self, seed: int, mode: Callable[[float], Mode], start: float = 0.0) -> None:
        self._mode = mode

        def step(t: float, rng: np.random.Generator) -> tuple[float, Fixation]:
            mean, p_away = _GAZE_HABITS[self._mode(t)]
            previous = self.stream.payloads[-1]
            hold = math.exp(math.log(mean) - 0.18 + 0.6 * rng.standard_normal())
            if not previous.away and rng.random() < p_away:
                angle = rng.uniform(0, 2 * math.pi)
                size = rng.uniform(0.10, 0.22)
                offset = (size * math.cos(angle), 0.6 * size * math.sin(angle) + 0.03)
                return max(0.25, hold), Fixation(offset, True)
            offset = (float(rng.normal(0, 0.012)), float(rng.normal(0, 0.008)))
            return max(0.25, hold), Fixation(offset, False)

        self.stream: EventStream[Fixation] = EventStream(
            [seed, 21], start, step, Fixation((0.0, 0.0), False))

    def offset(self, t: float) -> tuple[float, float]:
        i = self.stream.upto(t)
        if i < 0:
            return (0.0, 0.0)
        new = self.stream.payloads[i].offset
        if i == 0:
            return new
        old = self.stream.payloads[i - 1].offset
        k = float(smoothstep((t - self.stream.times[i]) / SACCADE_TIME))
        return (old[0] + (new[0] - old[0]) * k, old[1] + (new[1] - old[1]) * k)


EYE_RANGE = 0.45  # radians of eye rotation that an eyeLook* weight of 1 stands for
_LOOK = {name: INDEX[name] for name in (
    "eyeLookOutLeft", "eyeLookInLeft", "eyeLookUpLeft", "eyeLookDownLeft",
    "eyeLookOutRight", "eyeLookInRight", "eyeLookUpRight", "eyeLookDownRight",
    "eyeBlinkLeft", "eyeBlinkRight")}


def apply_gaze(weights: np.ndarray, h: float, v: float) -> None:
    """Write eyeLook* weights for gaze (h, v) in place.

    h > 0 looks toward the viewer's right, which is the face's own left: the left eye turns
    out and the right eye in (ARKit's Left/Right are the face's own sides). Looking down
    lowers the upper lids a little, as real lids follow the eyes.
    """
    x, y = h / EYE_RANGE, v / EYE_RANGE
    if x > 0:
        weights[_LOOK["eyeLookOutLeft"]] = weights[_LOOK["eyeLookInRight"]] = min(1.0, x)
    else:
        weights[_LOOK["eyeLookInLeft"]] = weights[_LOOK["eyeLookOutRight"]] = min(1.0, -x)
    if y > 0:
        weights[_LOOK["eyeLookUpLeft"]] = weights[_LOOK["eyeLookUpRight"]] = min(1.0, y)
    else:
        down = min(1.0, -y)
        weights[_LOOK["eyeLookDownLeft"]] = weights[_LOOK["eyeLookDownRight"]] = down
        for name in ("eyeBlinkLeft", "eyeBlinkRight"):
            weights[_LOOK[name]] = max(weights[_LOOK[name]], 0.25 * down)


# ------------------------------------------------------------------------------- head


def nod_pulse(dt: np.ndarray | float, width: float = 0.32) -> np.ndarray | float:
    """A nod's downward excursion, 0..1, ``dt`` seconds after it starts (raised cosine)."""
    x = np.clip(np.asarray(dt, dtype=np.float64) / width, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(2 * np.pi * x)


BREATH_HZ = 0.25  # about 15 breaths per minute at rest


def breathing(t: float) -> tuple[float, float, float]:
    """Translation (m) of the head from breathing: a slow rise and fall of a millimetre or two."""
    return (0.0, 0.0015 * math.sin(2 * math.pi * BREATH_HZ * t), 0.0)
