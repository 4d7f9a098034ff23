"""The user's turn understood: their words' affect, fused with what their face and voice showed,
and the emotion the persona responds with — one worker call, one MiniLM run per turn.

MiniLM embeds the agent's previous reply and the user's words once; the EmoBank head reads the
user's embedding for the text affect, and the PELD transition reads both (``persona.transition``).
Face and voice estimates arrive between turns (``fuse``); the words' estimate is fused where it
is made, here, so every command that has a conversation (``run``, ``chat``, ``serve``) fuses the
same way.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from agent.core.affect import AffectEstimate, FusedAffect


@dataclass(frozen=True, slots=True)
class Reading:
    """What one user turn came to: the words' own estimate, the fused affect, the agent's emotion."""

    text: AffectEstimate
    user: FusedAffect
    emotion: Any  # persona.emotion.Emotion


class Understanding:
    """Owns the fused user affect and the persona's emotion engine; thread-safe."""

    def __init__(self, engine: Any, fusion: Any, text_affect: Any | None = None,
                 embed: Callable[[list[str]], np.ndarray] | None = None) -> None:
        if embed is None:
            from perception.embeddings import embed_affect as minilm  # MiniLM tuned for affect

            embed = minilm
        self.engine = engine
        self.fusion = fusion
        self.text_affect = text_affect or engine.encoder.text_affect  # the heads share one MiniLM
        self._embed = embed
        self._lock = threading.Lock()

    @classmethod
    def for_persona(cls, persona: Any) -> Understanding:
        """The real models: MiniLM, the EmoBank and PELD heads, the persona's mood."""
        from perception.fusion import AffectFusion
        from persona.transition import EmotionEngine

        return cls(EmotionEngine(persona), AffectFusion())

    def fuse(self, estimate: AffectEstimate) -> None:
        """A face or voice estimate (the words' own are fused in ``read``)."""
        with self._lock:
            self.fusion.update(estimate)

    def current(self, now: float) -> FusedAffect:
        with self._lock:
            return self.fusion.current(now)

    def read(self, user_text: str, agent_prev_text: str, now: float, *, keep: bool = True) -> Reading:
        """Blocking (MiniLM and the heads): run it with :meth:`read_async` in a session.
        ``keep=False``: a speculative reading — the fused affect and the persona's emotion are
        left as they were, so the turn can be read again for real once it is confirmed."""
        both = self._embed([agent_prev_text, user_text])
        ctx = self.engine.context_of(agent_prev_text, both[0], both[1])
        text = self.text_affect.estimate_embedded(user_text, both[1], now)
        with self._lock:
            undo = None if keep else (copy.deepcopy(self.fusion), self.engine.snapshot())
            self.fusion.update(text)
            fused = self.fusion.current(now)
            estimate = None
            if fused.confidence > 0.0:
                estimate = AffectEstimate("fused", fused.vad, fused.confidence, now, fused.label, fused.cues)
            emotion = self.engine.respond_to(ctx, user_text, estimate, now)
            if undo is not None:
                self.fusion = undo[0]
                self.engine.restore(undo[1])
        return Reading(text, fused, emotion)

    async def read_async(self, user_text: str, agent_prev_text: str, now: float, *, keep: bool = True) -> Reading:
        return await asyncio.to_thread(partial(self.read, keep=keep), user_text, agent_prev_text, now)

    def set_emotion(self, emotion: Any, now: float) -> None:
        with self._lock:
            self.engine.set_state(emotion, now)

    def warm_up(self) -> None:
        """Load MiniLM and the heads before the user speaks (nothing is remembered)."""
        texts = ["Hello.", "Hello there, how are you?"]
        both = self._embed(texts)
        self.text_affect.estimate_embedded(texts[1], both[1], 0.0)
        self.engine.warm_up(self.engine.context_of(texts[0], both[0], both[1]))
