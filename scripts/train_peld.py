#!/usr/bin/env python
"""Train the personality-affected emotion transition heads on PELD (Wen et al. 2021).

Each PELD row is (agent's utterance, user's utterance, agent's response) with the agent's
Big Five and an emotion label per utterance. The head reads the context (each utterance's
emotion probabilities and text VAD from MiniLM tuned for affect, see ``persona.context_encoder``
and ``scripts/tune_encoder.py``, which must run first), the preceding emotion as an input, and
the temperament (Mehrabian), and predicts ``response VAD = preceding + P ⊙ Δ + S`` (P = 1 +
tanh(3×3 adaptation of the temperament), S = a bounded temperament shift) plus the response
label from a classifier over [context features, preceding emotion, response VAD]. Loss:
class-weighted cross-entropy (PELD is 43% neutral; weights (1/freq)^alpha) + squared error of
the VAD to the label's prototype.

The same script trains the ablation "transition without personality" (P ≡ 1, S ≡ 0, no
temperament inputs) on the same encoder with the same procedure, so ``agent bench emotion``
can compare them in one run. Train split for fitting, valid split for choosing the epoch of
each ensemble member; the test split is kept apart.

    python scripts/train_peld.py [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from persona.heads import data_dir  # noqa: E402
from persona.heads.training import epoch, transition_module  # noqa: E402
from persona.temperament import temperament  # noqa: E402
from persona.transition import PeldRows, macro_f1, read_peld  # noqa: E402


def tensors(rows: PeldRows):  # noqa: ANN201 - torch types stay inside this script
    import torch

    ctx = rows.context
    return [torch.from_numpy(x.astype(np.float32)) for x in (
        ctx.agent_emo, ctx.user_emo, ctx.agent_vad, ctx.user_vad, np.eye(7)[rows.pre], rows.pre_vad,
        temperament(rows.traits))]


def export(model, persona: bool) -> dict[str, np.ndarray]:  # noqa: ANN001
    layers = {"1": model.l1, "d": model.d, "c": model.cls}
    if persona:
        layers |= {"a": model.adapt, "s": model.shift}
    out = {}
    for key, lin in layers.items():
        out[f"w{key}"] = lin.weight.detach().numpy().T.copy()
        out[f"b{key}"] = lin.bias.detach().numpy().copy()
    return out


def train_member(tr: PeldRows, va: PeldRows, persona: bool, seed: int, args: argparse.Namespace):  # noqa: ANN201
    import torch
    from torch import nn

    from persona.emotion import PROTOTYPE_MATRIX

    torch.manual_seed(seed)
    xtr, xva = tensors(tr), tensors(va)
    ytr = torch.from_numpy(tr.label)
    proto = torch.from_numpy(PROTOTYPE_MATRIX)
    model = transition_module(persona, args.hidden)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=args.weight_decay)
    counts = np.bincount(tr.label, minlength=7)
    weight = torch.tensor((counts.sum() / counts / 7) ** args.alpha, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    best: tuple[float, int, dict[str, np.ndarray]] = (-1.0, -1, {})
    def loss_of(b):  # noqa: ANN001, ANN202
        logits, r = model(*[x[b] for x in xtr])
        return (nn.functional.cross_entropy(logits, ytr[b], weight=weight)
                + args.vad_weight * ((r - proto[ytr[b]]) ** 2).sum(1).mean())

    for n_epoch in range(args.epochs):
        epoch(model, opt, len(ytr), 64, gen, loss_of)
        with torch.no_grad():
            score = macro_f1(va.label, model(*xva)[0].argmax(1).numpy())
        if score > best[0]:
            best = (score, n_epoch, export(model, persona))
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="folder with peld_train.tsv and peld_valid.tsv")
    ap.add_argument("--out", type=Path, default=REPO / "persona" / "heads" / "transition.npz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--alpha", type=float, default=1.0, help="class weight exponent")
    ap.add_argument("--vad-weight", type=float, default=1.0)
    ap.add_argument("--weight-decay", type=float, default=1e-3)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(2)
    folder = args.data or data_dir() / "peld"
    paths = [folder / "peld_train.tsv", folder / "peld_valid.tsv"]
    for p in paths:
        if not p.exists():
            print(f"train_peld: {p} not found; set AGENT_DATA_DIR or pass --data", file=sys.stderr)
            return 2
    t0 = time.time()
    tr, va = (read_peld(p, cached=True) for p in paths)
    print(f"encoded {len(tr)} train + {len(va)} valid windows in {time.time() - t0:.1f}s")

    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, object] = {"seed": args.seed, "members": args.members, "hidden": args.hidden,
                               "epochs": args.epochs, "alpha": args.alpha, "vad_weight": args.vad_weight}
    for variant, persona in (("full", True), ("base", False)):
        members = []
        for k in range(args.members):
            score, epoch, w = train_member(tr, va, persona, args.seed * 100 + k, args)
            members.append(w)
            print(f"{variant} member {k}: epoch {epoch}, valid macro-F1 {score:.4f}", flush=True)
        for key in members[0]:
            arrays[f"{variant}_{key}"] = np.stack([m[key] for m in members]).astype(np.float16)
        meta[f"{variant}_epochs"] = len(members)
    np.savez_compressed(args.out, **arrays)
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
