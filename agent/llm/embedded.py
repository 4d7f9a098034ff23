"""An LLM that runs in-process: llama.cpp on a GGUF file, by default the bundled Gemma 3 270M.

llama.cpp blocks, so generation runs on one worker thread owned by the backend (which also
serialises turns: the model has one KV cache). Tokens cross to the event loop through a
bounded queue; the worker waits when the queue is full and stops within one token when the
consumer goes away. A base model (no chat template in the GGUF) is prompted few-shot.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import ctypes
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import BackendUnavailable, MissingDependency, UserError
from agent.core.stages import Message
from agent.llm import fewshot
from agent.llm.bundled import bundled_gguf
from agent.llm.notes import notes_into_user

if TYPE_CHECKING:
    from llama_cpp import Llama

    from persona.config import LLMSettings

log = logging.getLogger(__name__)

N_CTX = 2048
SEED = 1234
QUEUE_SIZE = 32
_POLL_S = 0.05


def default_threads() -> int:
    """Threads for llama.cpp: $AGENT_LLM_THREADS, else half the cores (1 on a 2-core laptop).

    Measured on 2 shared cores: 1 thread ~50-65 tokens/s; 2 threads ~10 % faster on an idle
    machine but ~10 tokens/s as soon as anything else runs (llama.cpp's threads wait on each
    other at every layer), and TTS, VAD and rendering always run beside the LLM.
    """
    raw = os.environ.get("AGENT_LLM_THREADS", "").strip()
    if not raw:
        return max(1, min(4, (os.cpu_count() or 2) // 2))
    if not raw.isdigit() or int(raw) < 1:
        raise UserError(f"AGENT_LLM_THREADS must be a whole number of threads, 1 or more (got {raw!r})")
    return int(raw)


_log_callback: Any = None


def _route_llama_logs() -> None:
    """Send llama.cpp's native log lines to our logger at debug level instead of stderr."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _cb(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        if level == 4:  # GGML_LOG_LEVEL_ERROR (0 none, 1 debug, 2 info, 3 warn, 4 error, 5 cont)
            log.warning("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())
        else:
            log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

    _log_callback = _cb  # keep a reference: the C side holds only a pointer
    llama_cpp.llama_log_set(_cb, ctypes.c_void_p(0))


_DONE = object()


@dataclass(frozen=True, slots=True)
class _Failed:
    exc: BaseException


class _Sink:
    """The worker thread's end of the bounded queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[object]) -> None:
        self._loop = loop
        self._queue = queue
        self.cancelled = threading.Event()

    def put(self, item: object) -> bool:
        """Blocks while the queue is full; False once the consumer has gone."""
        try:
            fut = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        except RuntimeError:  # loop closed
            return False
        while True:
            try:
                fut.result(timeout=_POLL_S)
                return True
            except concurrent.futures.TimeoutError:
                if self.cancelled.is_set():
                    fut.cancel()
                    return False


class EmbeddedLLM:
    """``LLM`` over a loaded ``llama_cpp.Llama``."""

    def __init__(
        self,
        llama: Llama,
        *,
        name: str,
        persona_name: str = "Assistant",
        language: str = "en",
        temperature: float = 0.7,
        max_tokens: int = 160,
        seed: int = SEED,
    ) -> None:
        self.name = name
        self.is_base_model = "tokenizer.chat_template" not in llama.metadata
        self._llama = llama
        self._persona = persona_name
        self.language = language
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._seed = seed
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-embedded")
        # prompt tokens llama.cpp evaluated per reply (the rest came from its KV cache)
        self.evaluated: collections.deque[int] = collections.deque(maxlen=1000)
        self._closed = False

    async def stream(
        self, messages: Sequence[Message], *, max_tokens: int | None = None, stop: Sequence[str] = ()
    ) -> AsyncIterator[str]:
        if self._closed:
            raise BackendUnavailable(f"{self.name} was closed")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=QUEUE_SIZE)
        sink = _Sink(loop, queue)
        job = loop.run_in_executor(
            self._executor, self._generate, list(messages), max_tokens or self._max_tokens, list(stop), sink
        )
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, _Failed):
                    if isinstance(item.exc, UserError):
                        raise item.exc
                    raise BackendUnavailable(f"{self.name} failed: {item.exc}") from item.exc
                yield str(item)
        finally:
            sink.cancelled.set()
            await asyncio.wait([job])  # the worker notices within one token; the next turn needs the model

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._llama.close)
        # the worker has nothing left to do: it ends at once, and is gone when aclose returns
        await asyncio.to_thread(self._executor.shutdown, True)

    # -- worker thread -------------------------------------------------------------------------

    def _generate(self, messages: list[Message], max_tokens: int, stop: list[str], sink: _Sink) -> None:
        try:
            for attempt in range(2):  # a tiny model sometimes ends at once; a second seed fixes it
                produced = False
                for piece in self._pieces(messages, max_tokens, stop, self._seed + attempt):
                    if sink.cancelled.is_set():
                        return
                    if piece:
                        produced = True
                        if not sink.put(piece):
                            return
                if produced:
                    break
            sink.put(_DONE)
        except Exception as exc:  # surfaced to the consumer as BackendUnavailable
            sink.put(_Failed(exc))

    def _pieces(self, messages: list[Message], max_tokens: int, stop: list[str], seed: int) -> Iterator[str]:
        cleaner = fewshot.ReplyCleaner()
        if self.is_base_model:
            prompt = self._fit(messages, max_tokens)
            self._count_evaluated(prompt)
            chunks = self._llama.create_completion(
                prompt,
                max_tokens=max_tokens,
                stop=fewshot.stop_strings(self._persona, self.language) + stop,
                temperature=self._temperature,
                repeat_penalty=1.1,
                seed=seed,
                stream=True,
            )
            for chunk in chunks:
                yield cleaner.feed(chunk["choices"][0]["text"])  # type: ignore[index]
        else:
            chat: Any = self._llama.create_chat_completion(
                messages=[{"role": m.role, "content": m.content}  # type: ignore[misc]
                          for m in notes_into_user(messages)],
                max_tokens=max_tokens,
                stop=stop or None,
                temperature=self._temperature,
                seed=seed,
                stream=True,
            )
            for chunk in chat:
                yield cleaner.feed(chunk["choices"][0]["delta"].get("content") or "")

    def _count_evaluated(self, prompt: str) -> None:
        """How many of the prompt's tokens llama.cpp will evaluate: those after the longest
        prefix its KV cache already holds (as ``Llama.generate`` finds it)."""
        tokens = self._llama.tokenize(prompt.encode("utf-8"), special=True)
        cached = list(self._llama._input_ids[: self._llama.n_tokens])
        prefix = 0
        for a, b in zip(cached, tokens[:-1]):
            if a != b:
                break
            prefix += 1
        self.evaluated.append(len(tokens) - prefix)

    def _fit(self, messages: list[Message], max_tokens: int) -> str:
        """The few-shot prompt; when it leaves no room for the reply, the older half of the
        exchanges goes at once — a cut changes the cached prefix, so it happens seldom."""
        budget = self._llama.n_ctx() - max_tokens
        lead = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
        head, body = list(messages[:lead]), list(messages[lead:])
        while True:
            prompt = fewshot.build_prompt(head + body, self._persona, self.language)
            if len(self._llama.tokenize(prompt.encode("utf-8"))) <= budget:
                return prompt
            starts = [i for i, m in enumerate(body) if m.role == "user"]  # where exchanges begin
            if len(starts) <= 1:
                raise UserError(f"The message is too long for {self.name} ({N_CTX}-token context); shorten it")
            body = body[starts[len(starts) // 2]:]


def gpu_layers() -> int:
    """All layers on the GPU when llama.cpp was built with one (CUDA, Metal), else none. The
    wheel pip builds by default is CPU-only; scripts/install.sh builds the CUDA one when
    LLAMA_CUDA=1 (CMAKE_ARGS=-DGGML_CUDA=on)."""
    try:
        import llama_cpp

        return -1 if llama_cpp.llama_supports_gpu_offload() else 0
    except (ImportError, AttributeError):
        return 0


def _load(path: Path, threads: int) -> Llama:
    from llama_cpp import Llama

    _route_llama_logs()
    try:
        return Llama(
            model_path=str(path),
            n_gpu_layers=gpu_layers(),
            n_ctx=N_CTX,
            n_threads=threads,
            n_threads_batch=threads,
            seed=SEED,
            verbose=False,
        )
    except ValueError as exc:
        raise UserError(f"llm.gguf: llama.cpp cannot load {path} ({exc}); give a valid GGUF model file") from exc


async def load_embedded(
    settings: LLMSettings,
    *,
    persona_name: str = "Assistant",
    language: str = "en",
    notice: Callable[[str], None] | None = None,
    threads: int | None = None,
) -> EmbeddedLLM:
    """Load ``settings.gguf`` (default: the bundled Gemma 3 270M) off the event loop.

    ``persona_name`` and ``language`` shape the few-shot transcript a base model continues.
    """
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        raise MissingDependency("llama-cpp-python (the embedded LLM)", "pip install llama-cpp-python") from exc
    if settings.gguf:
        path = Path(settings.gguf).expanduser()
        if not path.is_file():
            raise UserError(f"llm.gguf: {path} does not exist; give a GGUF file or leave it empty for the "
                            "bundled model")
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise UserError(f"llm.gguf: {path} is not a GGUF file; give a GGUF model (llama.cpp format)")
    else:
        path = await asyncio.to_thread(bundled_gguf, notice)
    n = threads or default_threads()
    llama = await asyncio.to_thread(_load, path, n)
    log.info("embedded LLM %s loaded (%d threads)", path.name, n)
    return EmbeddedLLM(
        llama,
        name=f"embedded:{path.stem}",
        persona_name=persona_name,
        language=language,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
    )
