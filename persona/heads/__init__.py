"""Trained heads that ship with the package (small ``.npz`` files) and where their data lives.

The data sets themselves never ship: training scripts and benchmarks read them from
``$AGENT_DATA_DIR`` or ``<repo>/../shared/data`` (see ATTRIBUTION.md for sources and licences).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

HEADS_DIR = Path(__file__).resolve().parent
# which script makes each head
TRAINED_BY = {"text_affect": "train_emobank", "transition": "train_peld", "backchannel": "train_backchannel"}


def data_dir() -> Path:
    env = os.environ.get("AGENT_DATA_DIR")
    if env:
        return Path(env)
    return HEADS_DIR.parent.parent.parent / "shared" / "data"


def load(name: str) -> dict[str, np.ndarray]:
    """The arrays of ``<name>.npz`` in this folder, as float32 (some are stored as float16)."""
    import numpy as np

    from agent.core.errors import UserError

    path = HEADS_DIR / f"{name}.npz"
    if not path.exists():
        raise UserError(f"trained head {path} is missing; reinstall the package or run "
                        f"scripts/{TRAINED_BY.get(name, 'train_' + name)}.py")
    with np.load(path, allow_pickle=False) as z:
        return {k: (z[k].astype(np.float32) if z[k].dtype == np.float16 else z[k]) for k in z.files}


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh form (the heads are trained with ``nn.GELU(approximate="tanh")``)."""
    import numpy as np

    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))
