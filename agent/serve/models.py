"""The models an ``agent serve`` process shares between its sessions.

``build_pipeline`` asks ``Models`` for the LLM, Whisper and the TTS voice; each is loaded once
(Whisper and the voices hold a lock per model and are read-only). The LLM is the one part a
session waits on for seconds at a time, so every session gets its own handle on one fair queue
(``agent.llm.fair``) instead of the model itself: replies take turns, round robin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.core.stages import LLM
from agent.llm.fair import FairLLM
from agent.pipeline import Models


class ServeModels(Models):
    def __init__(self, llm_workers: int = 4) -> None:
        super().__init__()
        self.llm_workers = llm_workers
        self.queues: dict[int, FairLLM] = {}  # id(model) -> its queue

    async def llm(self, persona: Any, backend: str | None, notice: Callable[[str], None]) -> LLM:
        model = await super().llm(persona, backend, notice)
        queue = self.queues.get(id(model))
        if queue is None:
            # llama.cpp in this process has one KV cache: one reply at a time; a serving engine
            # (vLLM, Ollama, llama.cpp's server) batches several
            workers = 1 if model.name.startswith("embedded") else self.llm_workers
            queue = self.queues[id(model)] = FairLLM(model, workers=workers)
        return queue.session(persona.name)
