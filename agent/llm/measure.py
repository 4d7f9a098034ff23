"""Speed of the embedded LLM on this machine: load time, time to first token, tokens per second.

For ``agent bench`` suites (and for choosing llama.cpp's thread count): each turn goes through
the real ``stream`` path, so the figures are what a conversation sees. The first turn pays for
the few-shot header; later turns reuse its KV cache, so both are reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from agent.core.stages import Message
from agent.llm.embedded import load_embedded
from persona.config import LLMSettings

QUESTIONS = (
    "Hi, can you help me with fractions?",
    "Why do leaves change colour in autumn?",
    "How do I add one half and one third?",
    "What should I practise first?",
)
SYSTEM = "You are Ada, a patient maths and science tutor. Keep replies to two or three short sentences."


@dataclass
class EmbeddedSpeed:
    threads: int
    load_s: float
    first_turn_ttft_s: float  # includes the few-shot header's prompt time
    ttft_s: list[float] = field(default_factory=list)  # later turns, header cached
    tokens_per_s: list[float] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)


async def measure_embedded(threads: int, *, turns: int = len(QUESTIONS), max_tokens: int = 64) -> EmbeddedSpeed:
    """Load the bundled model with ``threads`` threads and time ``turns`` short replies."""
    started = time.perf_counter()
    llm = await load_embedded(LLMSettings(temperature=0.6), persona_name="Ada", threads=threads)
    result = EmbeddedSpeed(threads=threads, load_s=time.perf_counter() - started, first_turn_ttft_s=0.0)
    try:
        for i in range(turns):
            messages = [Message("system", SYSTEM), Message("user", QUESTIONS[i % len(QUESTIONS)])]
            t0 = time.perf_counter()
            first = last = 0.0
            deltas: list[str] = []
            async for delta in llm.stream(messages, max_tokens=max_tokens):
                last = time.perf_counter()
                if not deltas:
                    first = last
                deltas.append(delta)
            if i == 0:
                result.first_turn_ttft_s = first - t0
            else:
                result.ttft_s.append(first - t0)
            if len(deltas) > 1 and last > first:
                result.tokens_per_s.append((len(deltas) - 1) / (last - first))
            result.replies.append("".join(deltas))
    finally:
        await llm.aclose()
    return result
