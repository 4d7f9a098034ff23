"""Turn-taking: what the user's speech means for the conversation.

The hearing stage (``perception.hearing``) reports what it heard — each frame, utterances as
they start and end, their words once Whisper has read them — and ``TurnTaker`` decides:

* **barge-in** (``agent.turns.BargeIn``): while the agent speaks, user speech that is not echo
  and not a backchannel publishes ``Interrupt`` directly — never by a round trip; speech that
  cannot be told from an acknowledgement in time publishes ``Pause``, and its words then decide:
  ``Resume`` (it was "uh-huh") or ``Interrupt``;
* **end of turn** (``agent.turns.EndOfTurnDetector``): VAD silence plus the transcript, then
  ``EndOfTurn`` with the user's words.

Every decision is taken on the input clock, so it is the same from a file, in a test or live.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.core import events as ev
from agent.core.bus import EventBus
from agent.turns import (
    BargeAction,
    BargeIn,
    BargeState,
    EndOfTurnDetector,
    Look,
    TurnConfig,
    TurnDecision,
    calls_to_stop,
    held_look,
    is_backchannel,
)
from perception.audio_source import FRAME, FRAME_S
from perception.backchannel import ACK_PROMPT
from perception.hearing import HeardFrame, HeardSegment, Hearing
from perception.hum import hum_like
from perception.vad import Segment

log = logging.getLogger(__name__)


@dataclass
class BargeInRecord:
    """One time the user's speech made the agent go quiet."""

    onset: float  # input clock
    decided_at: float  # input clock (end of the frame that decided): the agent goes quiet
    check_s: float  # wall time spent looking at the onset
    outcome: str = "interrupt"  # or "pause" (the words still to decide), "resumed" (an acknowledgement)
    settled_at: float | None = None  # when the words decided a pause
    wall_onset: float | None = None  # monotonic time the onset's frame was taken in
    wall_decided: float | None = None  # monotonic time the agent was told to go quiet


class TurnTaker:
    """The hearing stage's listener: barge-in and end of turn (see the module docstring).

    ``judge`` (``perception.backchannel.OnsetJudge``) looks at onsets over the agent; without
    one, sustained speech over the agent interrupts at once."""

    def __init__(self, bus: EventBus, hearing: Hearing, config: TurnConfig | None = None,
                 judge: Any | None = None, clock: Any = None) -> None:
        import time

        self.bus = bus
        self.hearing = hearing
        self.config = config or TurnConfig()
        self.judge = judge
        self._wall = clock or time.monotonic
        self.turns = EndOfTurnDetector(self.config)
        self.barge = BargeIn(self.config, can_check=judge is not None)
        self.barge_ins: collections.deque[BargeInRecord] = collections.deque(maxlen=64)
        self._agent_speaking = False
        self._during_agent = False
        self._barged = False
        self._ended: collections.deque[tuple[bool, bool]] = collections.deque()  # per utterance awaiting words
        self._now = 0.0
        self._check_s = 0.0
        self._held_at = 0.0  # input time the current onset was held as a backchannel
        self._onset_wall: float | None = None

    # ------------------------------------------------------------------ set by the session
    @property
    def agent_speaking(self) -> bool:
        return self._agent_speaking

    @agent_speaking.setter
    def agent_speaking(self, value: bool) -> None:
        if not value:
            self.barge.reset()
        self._agent_speaking = value

    @property
    def onset_under_way(self) -> bool:
        return self.barge.state is not BargeState.QUIET

    @property
    def looking(self) -> bool:
        return self._agent_speaking and self.barge.state in (BargeState.ONSET, BargeState.CHECKING)

    # ------------------------------------------------------------------ what hearing reports
    async def frame(self, f: HeardFrame) -> None:
        self._now = f.end
        if self._agent_speaking:
            if self.barge.state is BargeState.QUIET:
                self._check_s = 0.0  # the compute of this onset's looks only
                self._onset_wall = self._wall()
            action = self.barge.frame(f.t, f.end, f.user, f.lead, f.heard_before, f.masked)
            if action is BargeAction.CHECK:
                action = await self._check_onset()
            await self._act(action)
        await self._decide(self.turns.tick(f.end))

    async def speech_started(self, onset: float) -> None:
        self._during_agent = self._agent_speaking
        self._barged = False
        self.turns.speech_started(onset)

    async def speech_ended(self, seg: Segment) -> None:
        if self.barge.state is BargeState.PAUSED:
            # the agent is waiting: a short look at the whole utterance decides, before the
            # full transcript (which pads to Whisper's 30 s window) comes in. From one frame
            # before the onset, as the first looks: the padding before holds the agent's echo
            text = await self.hearing.glance(self.hearing.speech_audio_from(seg, seg.onset), prompt=ACK_PROMPT)
            await self._act(self.barge.words(text, seg.offset - seg.onset))
        self._ended.append((self._during_agent, self._barged))
        self.turns.speech_ended(seg.offset)

    async def heard(self, heard: HeardSegment, now: float) -> None:
        during, barged = self._ended.popleft() if self._ended else (False, False)
        heard.during_agent = during
        if not heard.ignored and during and not barged:
            # the agent went on talking: a backchannel ("uh-huh"), or what the echo gate let by
            heard.ignored = "backchannel" if is_backchannel(heard.text) else "agent speaking"
        text = "" if heard.ignored else heard.text
        decision = self.turns.transcript(text, max(now, self._now), cut_in=during and barged,
                                         sounds_finished=heard.finished)
        if decision is None and self.turns.likely is not None:
            await self.bus.publish(ev.TurnEndLikely(text=self.turns.likely))
        await self._decide(decision)

    async def input_ended(self, now: float) -> None:
        await self._decide(self.turns.tick(now + self.config.unfinished_silence))

    async def _decide(self, d: TurnDecision | None) -> None:
        if d is not None:
            await self.bus.publish(ev.EndOfTurn(text=d.text, audio_end_t=d.audio_end_t, decided_at=d.decided_at))

    # ------------------------------------------------------------------ barge-in
    async def _check_onset(self) -> BargeAction:
        """Look at the onset: a hum or an acknowledgement is held, a turn interrupts, and a look
        that tells nothing yet is taken again a frame later.

        The first looks are the backchannel head over Whisper's encoder (``OnsetJudge``: what
        the sound is, tens of ms); a held acknowledgement that goes on is judged by the words
        that follow it ("yeah, but ..."), which by then are long enough for Whisper to write.
        A hum is told by its sound alone.
        """
        import asyncio

        assert self.judge is not None  # no looks without a judge (BargeIn.can_check)
        held = self._held_at > self.barge.onset
        # the deadline runs from the first sign of the voice, which may be a frame or two before
        # the onset the echo gate let through: the agent must be quiet 300 ms after it
        first_sign = self.barge.first_sign
        # from one frame before the onset, as the head learnt it: the padding further back holds
        # more echo than voice. A look ahead of the onset's time reads from the first sign, else
        # it would have too little to tell a turn by
        audio = self.hearing.audio_since(self.barge.run_start if held else
                                         first_sign if self.barge.ahead else self.barge.onset)
        loop = asyncio.get_running_loop()
        start = loop.time()
        if held:
            look = held_look(await self.hearing.glance(audio))
        else:
            p, hum = await asyncio.to_thread(self._sound, audio)
            look = self._verdict(p, self._now - first_sign, hum)
            if look is Look.ACK and (not hum or p < self.judge.head.hold_above):
                look = await self._ack_words(first_sign, hum)
        self._check_s += loop.time() - start
        log.debug("barge-in look: %s", look.value)
        action = self.barge.resolve(look, self._now)
        if self.barge.state is BargeState.HELD:
            self._held_at = self._now
        return action

    async def _ack_words(self, first_sign: float, hum: bool) -> Look:
        """The words of an onset the sound calls an acknowledgement, read from the first sign of
        the voice (without the breath of an "h" Whisper hears "Hold on" as "all the"). If they
        say "stop", "wait", "what?" — more reliable than Whisper's guesses at acknowledgements —
        the agent pauses instead. A murmur the head is unsure of is read with Whisper led to
        expect an acknowledgement: it writes a hum as one ("Mm-hmm", "M"), and words for a turn
        that opens on a nasal ("Can you ..." reads "Um," or "The thing you"), which pause."""
        audio = self.hearing.audio_since(first_sign)
        if hum:
            return Look.ACK if is_backchannel(await self.hearing.glance(audio, prompt=ACK_PROMPT)) else Look.UNSURE
        return Look.UNSURE if calls_to_stop(await self.hearing.glance(audio)) else Look.ACK

    def _sound(self, audio: np.ndarray) -> tuple[float, bool]:
        assert self.judge is not None  # no looks without a judge (BargeIn.can_check)
        return self.judge.probability(audio), hum_like(audio[FRAME:])

    def _verdict(self, p: float, since_onset: float, hum: bool = False) -> Look:
        assert self.judge is not None
        if self.barge.ahead:  # only a clear turn is decided ahead of time (BargeIn.ahead)
            return Look.UNSURE if p <= self.judge.head.pause_below else Look.NOT_YET
        return onset_look(self.judge.head, p, since_onset, hum, self.config.decide_by)

    async def _act(self, action: BargeAction) -> None:
        handler = {BargeAction.FIRE: self._barge_in, BargeAction.PAUSE: self._pause,
                   BargeAction.RESUME: self._resume}.get(action)
        if handler is not None:
            await handler()

    def _record(self, outcome: str) -> None:
        self.barge_ins.append(BargeInRecord(self.barge.onset, self._now, self._check_s, outcome,
                                            wall_onset=self._onset_wall, wall_decided=self._wall()))
        self._check_s = 0.0
        self.hearing.cut_echo_after(self._now)

    async def _barge_in(self) -> None:
        self._barged = True
        last = self.barge_ins[-1] if self.barge_ins else None
        if last is not None and last.outcome == "pause":  # the words decided: the turn is theirs
            last.outcome, last.settled_at = "interrupt", self._now
        else:
            self._record("interrupt")
        await self.bus.publish(ev.Interrupt(reason="barge-in"))

    async def _pause(self) -> None:
        self._record("pause")
        await self.bus.publish(ev.Pause(reason="barge-in"))

    async def _resume(self) -> None:
        last = self.barge_ins[-1]
        last.outcome, last.settled_at = "resumed", self._now
        await self.bus.publish(ev.Resume(reason="backchannel"))


def onset_look(head: Any, p: float, since_onset: float, hum: bool = False,
               decide_by: float | None = None) -> Look:
    """What the backchannel head's probability ``p`` says about an onset ``since_onset`` seconds
    old. Sure enough of an acknowledgement to talk on (``ACK``), or not: ``UNSURE`` pauses the
    agent — at once when the sound is clearly not one, else at the last look before the head's
    deadline — and the utterance's words then decide. The sound alone never takes the turn
    away: a confident mistake on a voice the head never heard costs a pause, not the reply.
    ``hum``: the onset sounds like a closed-mouth murmur (``perception.hum``), an acknowledgement
    unless the head is sure it is not one (a quiet "What d-" under the agent's echo can sound
    like a murmur too). ``decide_by``: an earlier deadline than the head's own."""
    if p >= head.hold_above or hum and p > head.pause_below:
        return Look.ACK
    deadline = head.decide_by if decide_by is None else min(head.decide_by, decide_by)
    if p <= head.pause_below or since_onset + FRAME_S > deadline + 1e-9:
        return Look.UNSURE
    return Look.NOT_YET


def listen(bus: EventBus, hearing: Hearing, config: TurnConfig | None = None,
           judge: Any | None = None) -> TurnTaker:
    """A ``TurnTaker`` for ``hearing``, set as its listener. ``judge``: by default the bundled
    backchannel head over the hearing's Whisper (none when it has no ASR)."""
    if judge is None and hearing.asr is not None:
        from perception.backchannel import OnsetJudge

        judge = OnsetJudge(hearing.asr)
    taker = TurnTaker(bus, hearing, config, judge)
    hearing.listener = taker
    return taker
