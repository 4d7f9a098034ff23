"""The echo gate on its own, with speech-like signals (no models): it finds the room's delay,
cancels the agent's echo once learnt, leaves a user who talks over it, and tells a voice from
the room's noise."""

from __future__ import annotations

import numpy as np

from perception.audio_source import FRAME, FRAME_S, SAMPLE_RATE
from perception.echo import EchoReference


def _babble(seconds: float, seed: int) -> np.ndarray:
    """Noise shaped into 4 Hz syllables with pauses: speech's rhythm without a synthesizer."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    envelope = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None) ** 2
    return (0.3 * envelope * rng.standard_normal(n)).astype(np.float32)


def _run(mic: np.ndarray, echo: EchoReference) -> list:
    return [echo.assess(mic[i:i + FRAME], i / SAMPLE_RATE) for i in range(0, len(mic) - FRAME + 1, FRAME)]


def _room(agent: np.ndarray, delay: float, gain: float, n: int, seed: int = 3) -> np.ndarray:
    d = int(delay * SAMPLE_RATE)
    mic = np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 1e-3
    mic[d:d + len(agent)] += gain * agent[:n - d]
    return mic


def test_the_agents_echo_is_learnt_and_cancelled() -> None:
    agent = _babble(4.0, seed=1)
    echo = EchoReference()
    echo.push(agent, SAMPLE_RATE, 0.0)
    verdicts = _run(_room(agent, 0.05, 0.5, len(agent)), echo)
    assert echo.delay is not None and abs(echo.delay - 0.05) < 0.005
    late = verdicts[len(verdicts) // 2:]
    assert all(v.playing and v.certain for v in late)
    assert float(np.median([v.residual for v in late])) < 0.1


def _vowel(seconds: float) -> np.ndarray:
    """A held vowel at 150 Hz (harmonics falling off): a user who keeps talking."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.1 * sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 12))).astype(np.float32)


def test_a_user_over_the_echo_is_left_in() -> None:
    agent, user = _babble(5.0, seed=1), _vowel(1.0)
    mic = _room(agent, 0.05, 0.5, len(agent))
    start = int(3.5 * SAMPLE_RATE)
    mic[start:start + len(user)] += user
    echo = EchoReference()
    echo.push(agent, SAMPLE_RATE, 0.0)
    verdicts = _run(mic, echo)
    during = verdicts[start // FRAME + 2:(start + len(user)) // FRAME - 2]
    assert float(np.median([v.residual for v in during])) > 0.5
    # what is left is the user's voice, well above the room's noise
    assert float(np.median([v.above_floor_db for v in during])) > 20


def test_quiet_frames_sit_at_the_noise_floor() -> None:
    rng = np.random.default_rng(0)
    quiet = rng.standard_normal(32 * FRAME).astype(np.float32) * 1e-3
    loud = quiet.copy()
    loud[-FRAME:] += _vowel(FRAME / SAMPLE_RATE)
    verdicts = _run(loud, EchoReference())
    assert all(not v.playing for v in verdicts)
    assert max(v.above_floor_db for v in verdicts[:-1]) < 6  # noise over its own minimum
    assert verdicts[-1].above_floor_db > 20


def test_with_headphones_a_user_who_sounds_like_the_agent_does_not_lock_the_gate() -> None:
    """No echo reaches the microphone; the user says "okay" and "right" in the agent's own
    (espeak) voice and the reply is cut 224 ms in, as a pause does. A moment's correlation
    between the two voices must not be taken for an echo path: the gate would then wait for
    one to be learnt, and hear nobody while the agent talks."""
    from agent.bench.speech import espeak, mix

    agent = espeak("Long ago, in a small village by the sea, there lived an old fisherman who knew every "
                   "wave by its name. Each morning he rowed out before the sun.")
    for word in ("okay", "right"):
        mic = mix(6.0, [(3.0, espeak(word), 0.5)], noise_db=-50, seed=3)
        echo = EchoReference()
        echo.push(agent, SAMPLE_RATE, 0.0)
        verdicts = []
        for i in range(0, len(mic) - FRAME + 1, FRAME):
            t = i / SAMPLE_RATE
            if abs(t - 3.224) < FRAME_S / 2:
                echo.cut_after(t)
            if abs(t - 3.9) < FRAME_S / 2:  # resumed after the pause
                echo.push(agent[int(3.224 * SAMPLE_RATE):], SAMPLE_RATE, t)
            verdicts.append(echo.assess(mic[i:i + FRAME], t))
        assert echo.delay is None, word
        assert all(v.certain for v in verdicts[int(4.5 / FRAME_S):] if v.playing), word


def test_a_user_who_cuts_in_while_the_gate_still_learns_is_heard_at_once() -> None:
    """2 s into the agent's first reply the filter has not learnt the room (its cancelling says
    little yet), and the user's voice is no louder than the echo; but it fills bands the agent's
    sound leaves empty at that moment. Most of the first 160 ms of the user must be heard as a
    voice (the agent has to go quiet within 300 ms); the echo alone never two frames running."""
    from agent.bench.speech import espeak, mix, room_echo

    agent = espeak("Photosynthesis turns light into chemical energy, and plants store it as sugar "
                   "for later use in the night.", voice="en-us+f3", pitch=70)

    def voice_frames(user: str | None) -> list[float]:
        parts = [(0.5, room_echo(agent), 1.0)] + ([(2.5, espeak(user), 0.5)] if user else [])
        mic = mix(6.0, parts, noise_db=-45, seed=4)
        echo = EchoReference()
        echo.push(agent, SAMPLE_RATE, 0.5)
        heard = []
        for i in range(0, len(mic) - FRAME + 1, FRAME):
            v = echo.assess(mic[i:i + FRAME], i / SAMPLE_RATE)
            if v.playing and v.certain and v.residual > 0.5 and not echo.converged:
                heard.append(i / SAMPLE_RATE)
        return heard

    for line in ("Let me stop you there.", "Sorry, can I ask something?"):
        assert sum(2.5 <= t < 2.66 for t in voice_frames(line)) >= 3, line
    alone = voice_frames(None)
    assert not any(b - a < FRAME_S * 1.5 for a, b in zip(alone, alone[1:]))
