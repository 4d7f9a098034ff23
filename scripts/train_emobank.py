#!/usr/bin/env python
"""Train the text-affect head: VAD regression over MiniLM sentence embeddings, on EmoBank.

EmoBank (Buechel & Hahn, EACL 2017, CC BY 4.0) rates 10k sentences for V, A, D on 1..5; we map
them to [-1, 1] with (x - 3) / 2. Train split for fitting, dev split for choosing the epoch;
the authors' test split is kept apart. The head is a small ensemble of one-hidden-layer MLPs:
the spread between members is the model-certainty part of the estimate's confidence.

    python scripts/train_emobank.py [--seed 0] [--out persona/heads/text_affect.npz]

Embeddings are cached under ~/.cache/embodied-agent (never in the repository).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from perception.embeddings import embed_cached  # noqa: E402
from persona.heads import data_dir  # noqa: E402
from persona.heads.training import epoch, mlp_weights  # noqa: E402


def load(path: Path) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    split = {s: [r for r in rows if r["split"] == s] for s in ("train", "dev")}
    vad = {s: (np.array([[float(r[k]) for k in "VAD"] for r in rs], np.float32) - 3.0) / 2.0
           for s, rs in split.items()}
    return ([r["text"] for r in split["train"]], vad["train"],
            [r["text"] for r in split["dev"]], vad["dev"])


def pearson(pred: np.ndarray, gold: np.ndarray) -> list[float]:
    return [float(np.corrcoef(pred[:, i], gold[:, i])[0, 1]) for i in range(gold.shape[1])]


def train_member(x: np.ndarray, y: np.ndarray, xd: np.ndarray, yd: np.ndarray, seed: int,
                 hidden: int, epochs: int) -> tuple[dict[str, np.ndarray], list[float], int]:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.GELU(approximate="tanh"),
                          nn.Dropout(0.2), nn.Linear(hidden, 3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3)
    xt, yt, xdt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xd)
    gen = torch.Generator().manual_seed(seed)
    best: tuple[float, int, dict[str, np.ndarray], list[float]] | None = None
    for n_epoch in range(epochs):
        epoch(model, opt, len(xt), 64, gen, lambda b: ((model(xt[b]) - yt[b]) ** 2).mean())
        with torch.no_grad():
            r = pearson(model(xdt).numpy(), yd)
        if best is None or np.mean(r) > best[0]:
            best = (float(np.mean(r)), n_epoch, mlp_weights(model), r)
    assert best is not None
    return best[2], best[3], best[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="emobank_train_dev.csv")
    ap.add_argument("--out", type=Path, default=REPO / "persona" / "heads" / "text_affect.npz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(2)
    path = args.data or data_dir() / "emobank" / "emobank_train_dev.csv"
    if not path.exists():
        print(f"train_emobank: {path} not found; set AGENT_DATA_DIR or pass --data", file=sys.stderr)
        return 2
    t0 = time.time()
    tr_text, ytr, dv_text, ydv = load(path)
    xtr, xdv = embed_cached(tr_text), embed_cached(dv_text)
    print(f"embedded {len(tr_text)} train + {len(dv_text)} dev sentences in {time.time() - t0:.1f}s")

    members = []
    for k in range(args.members):
        w, r, epoch = train_member(xtr, ytr, xdv, ydv, args.seed * 100 + k, args.hidden, args.epochs)
        members.append(w)
        print(f"member {k}: best epoch {epoch}, dev Pearson r V={r[0]:.3f} A={r[1]:.3f} D={r[2]:.3f}")
    stack = {key: np.stack([m[key] for m in members]) for key in members[0]}

    # the ensemble on dev: its Pearson r, and the typical member spread (confidence reference)
    h = np.einsum("nd,kdh->knh", xdv, stack["w1"]) + stack["b1"][:, None, :]
    h = 0.5 * h * (1.0 + np.tanh(0.7978845608028654 * (h + 0.044715 * h ** 3)))
    preds = np.einsum("knh,kho->kno", h, stack["w2"]) + stack["b2"][:, None, :]
    r = pearson(preds.mean(0), ydv)
    spread = preds.std(0).mean(1)
    print(f"ensemble dev Pearson r: V={r[0]:.3f} A={r[1]:.3f} D={r[2]:.3f}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **{k: v.astype(np.float16) for k, v in stack.items()},
                        spread_ref=np.float32(np.median(spread)),
                        dev_r=np.array(r, np.float32))
    meta = {"seed": args.seed, "members": args.members, "hidden": args.hidden,
            "train": len(tr_text), "dev": len(dv_text), "dev_pearson_r": dict(zip("VAD", r))}
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
