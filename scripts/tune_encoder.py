#!/usr/bin/env python
"""Fine-tune MiniLM's top layers for affect: PELD transitions, PELD utterance emotions, EmoBank VAD.

The emotion transition reads the agent's and the user's utterances through MiniLM; a frozen
sentence embedding with a head on top learned little beyond copying the preceding emotion. Here
the encoder itself learns from the transition (end to end) while two auxiliary tasks keep it an
affect reader for every sentence, not a memory of PELD's six speakers: each PELD utterance's own
emotion label, and EmoBank's VAD ratings (the same encoder serves the text-affect head, one
MiniLM run per turn).

Only the top ``TOP`` of MiniLM's six layers changes, through LoRA (rank ``RANK``) on every linear
map in them, so what ships is a ~100 KiB delta (``persona/heads/context_encoder.npz``) that
``perception.embeddings`` adds to the packaged weights at load. The frozen lower layers' token
states are computed once and cached outside the repository, which keeps an epoch at a few
minutes on two CPU cores.

    python scripts/tune_encoder.py [--seed 0]          # writes persona/heads/context_encoder.npz
    python scripts/train_emobank.py                    # text-affect head on the tuned encoder
    python scripts/train_peld.py                       # transition heads on the tuned encoder

Data: PELD train (fitting) and valid (epoch choice); EmoBank train (fitting). See
persona/heads/ATTRIBUTION.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from perception.embeddings import LORA_TARGETS, TOP, cache_dir  # noqa: E402
from persona.emotion import LABELS, PROTOTYPE_MATRIX  # noqa: E402
from persona.heads import data_dir  # noqa: E402
from persona.heads.training import transition_module  # noqa: E402
from persona.temperament import temperament  # noqa: E402
from persona.transition import macro_f1  # noqa: E402

RANK, LORA_ALPHA = 8, 16.0


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def read_emobank(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "train"]
    return [r["text"] for r in rows], (np.array([[float(r[k]) for k in "VAD"] for r in rows], np.float32) - 3) / 2


def lower_states(texts: list[str], tok: Any, model: Any, depth: int) -> list[Any]:
    """Token states after the frozen lower ``depth`` layers, one (tokens, 384) fp16 tensor per
    text, cached outside the repository (a deeper cache is made from a shallower one)."""
    import torch

    from perception.embeddings import MAX_TOKENS

    h = hashlib.sha256(f"lower{depth}".encode())
    for t in texts:
        h.update(t.encode("utf-8", "replace") + b"\0")
    path = cache_dir().parent / "states" / f"{h.hexdigest()[:24]}.pt"
    if path.exists():
        return torch.load(path)
    out: list[Any] = []
    with torch.inference_mode():
        if depth > 1:  # one more layer over the shallower cache
            below = lower_states(texts, tok, model, depth - 1)
            layer = model.encoder.layer[depth - 1]
            for i in range(0, len(below), 64):
                batch = below[i:i + 64]
                lens = torch.tensor([len(x) for x in batch])
                x = torch.nn.utils.rnn.pad_sequence([b.float() for b in batch], batch_first=True)
                mask = (torch.arange(x.shape[1])[None, :] < lens[:, None]).float()
                x = layer(x, (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min)
                out += [row[:int(n)].to(torch.float16).clone() for row, n in zip(x, lens)]
        else:
            for i in range(0, len(texts), 64):
                enc = tok([t if t.strip() else "." for t in texts[i:i + 64]], padding=True, truncation=True,
                          max_length=MAX_TOKENS, return_tensors="pt")
                x = model.embeddings(input_ids=enc["input_ids"], token_type_ids=enc["token_type_ids"])
                ext = (1.0 - enc["attention_mask"][:, None, None, :].float()) * torch.finfo(torch.float32).min
                if depth:
                    x = model.encoder.layer[0](x, ext)
                out += [row[:int(n)].to(torch.float16).clone() for row, n in zip(x, enc["attention_mask"].sum(1))]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, path)
    return out


def build(model: Any, hidden: int) -> Any:  # noqa: C901 - one module, its parts side by side
    import copy

    import torch
    from torch import nn

    class LoRA(nn.Module):
        def __init__(self, base: nn.Linear) -> None:
            super().__init__()
            self.base = base
            for p in base.parameters():
                p.requires_grad_(False)
            self.a = nn.Parameter(torch.randn(RANK, base.in_features) / base.in_features ** 0.5)
            self.b = nn.Parameter(torch.zeros(base.out_features, RANK))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + (LORA_ALPHA / RANK) * nn.functional.linear(nn.functional.linear(x, self.a), self.b)

    class Tuner(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            n = len(model.encoder.layer)
            self.top = nn.ModuleList(copy.deepcopy(model.encoder.layer[n - TOP:]))
            for p in self.top.parameters():
                p.requires_grad_(False)
            for layer in self.top:
                for name in LORA_TARGETS:
                    parent = layer.get_submodule(name.rsplit(".", 1)[0])
                    leaf = name.rsplit(".", 1)[1]
                    setattr(parent, leaf, LoRA(getattr(parent, leaf)))
            self.emo = nn.Linear(384, 7)  # the utterance's own emotion (PELD's per-utterance labels)
            self.vad = nn.Sequential(nn.Linear(384, 128), nn.GELU(approximate="tanh"), nn.Dropout(0.2),
                                     nn.Linear(128, 3))  # EmoBank VAD
            self.full = transition_module(True, hidden)
            self.base = transition_module(False, hidden)

        def encode(self, states: list[torch.Tensor]) -> torch.Tensor:
            lens = torch.tensor([len(s) for s in states])
            x = nn.utils.rnn.pad_sequence([s.float() for s in states], batch_first=True)
            mask = (torch.arange(x.shape[1])[None, :] < lens[:, None]).float()
            ext = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
            for layer in self.top:
                x = layer(x, ext)
            mean = (x * mask[..., None]).sum(1) / lens[:, None]
            return nn.functional.normalize(mean, dim=1)

    return Tuner()


def export_lora(tuner: Any) -> dict[str, np.ndarray]:
    out = {}
    for i, layer in enumerate(tuner.top):
        for name in LORA_TARGETS:
            mod = layer.get_submodule(name)
            out[f"top{i}.{name}.a"] = mod.a.detach().numpy().copy()
            out[f"top{i}.{name}.b"] = (mod.b.detach().numpy() * (LORA_ALPHA / RANK)).copy()
    return out


def main() -> int:  # noqa: C901, PLR0915 - a training script reads top to bottom
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="folder holding peld/ and emobank/")
    ap.add_argument("--out", type=Path, default=REPO / "persona" / "heads" / "context_encoder.npz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--alpha", type=float, default=0.8, help="class weight exponent")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--emobank-batch", type=int, default=16)
    args = ap.parse_args()

    import torch
    from torch import nn

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    folder = args.data or data_dir()
    paths = [folder / "peld" / "peld_train.tsv", folder / "peld" / "peld_valid.tsv",
             folder / "emobank" / "emobank_train_dev.csv"]
    for p in paths:
        if not p.exists():
            print(f"tune_encoder: {p} not found; set AGENT_DATA_DIR or pass --data", file=sys.stderr)
            return 2
    tr, va = read_tsv(paths[0]), read_tsv(paths[1])
    eb_text, eb_vad = read_emobank(paths[2])

    from perception.embeddings import _base_model

    tok, model = _base_model()
    texts = sorted({r[f"Utterance_{k}"] for r in tr + va for k in "12"} | set(eb_text))
    index = {t: i for i, t in enumerate(texts)}
    t0 = time.time()
    states = lower_states(texts, tok, model, len(model.encoder.layer) - TOP)
    print(f"lower-layer states of {len(texts)} texts in {time.time() - t0:.0f}s", flush=True)

    def rows(rs: list[dict[str, str]]) -> dict[str, Any]:
        e = {k: torch.tensor([LABELS.index(r[f"Emotion_{k}"]) for r in rs]) for k in "123"}
        return {"a": [index[r["Utterance_1"]] for r in rs], "u": [index[r["Utterance_2"]] for r in rs],
                "e1": e["1"], "e2": e["2"], "y": e["3"],
                "temp": torch.from_numpy(temperament(np.array([json.loads(r["Personality"]) for r in rs],
                                                              np.float32)).astype(np.float32))}

    R, V = rows(tr), rows(va)
    eb_idx, eb_y = [index[t] for t in eb_text], torch.from_numpy(eb_vad)
    proto = torch.from_numpy(PROTOTYPE_MATRIX)
    counts = np.bincount(R["y"].numpy(), minlength=7)
    weight = torch.tensor((counts.sum() / counts / 7) ** args.alpha, dtype=torch.float32)
    counts_u = np.bincount(np.concatenate([R["e1"].numpy(), R["e2"].numpy()]), minlength=7)
    weight_u = torch.tensor((counts_u.sum() / counts_u / 7) ** 0.5, dtype=torch.float32)

    tuner = build(model, args.hidden)
    params = [p for p in tuner.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
    gen = torch.Generator().manual_seed(args.seed)

    def forward(sel: dict[str, Any], b: Any) -> tuple[Any, ...]:
        a_i, u_i = [sel["a"][int(i)] for i in b], [sel["u"][int(i)] for i in b]
        emb = tuner.encode([states[i] for i in a_i + u_i])
        a, u = emb[:len(b)], emb[len(b):]
        la, lu = tuner.emo(a), tuner.emo(u)
        avad, uvad = tuner.vad(a).detach(), tuner.vad(u).detach()
        oh = torch.eye(7)[sel["e1"][b]]
        pre = proto[sel["e1"][b]]
        feats = (la.softmax(1), lu.softmax(1), avad, uvad, oh, pre, sel["temp"][b])
        return la, lu, tuner.full(*feats), tuner.base(*feats)

    best: tuple[float, int] = (-1.0, -1)
    n_rows, steps = len(R["y"]), (len(R["y"]) + 31) // 32
    for n_epoch in range(args.epochs):
        tuner.train()
        perm, eb_perm = torch.randperm(n_rows, generator=gen), torch.randperm(len(eb_idx), generator=gen)
        eb_batch = args.emobank_batch  # a slice of EmoBank per step keeps the encoder a VAD reader
        t0 = time.time()
        for s in range(steps):
            b = perm[s * 32:(s + 1) * 32]
            la, lu, (lf, rf), (lb, rb) = forward(R, b)
            y = R["y"][b]
            loss = (nn.functional.cross_entropy(lf, y, weight=weight)
                    + nn.functional.cross_entropy(lb, y, weight=weight)
                    + ((rf - proto[y]) ** 2).sum(1).mean() + ((rb - proto[y]) ** 2).sum(1).mean()
                    + 0.5 * nn.functional.cross_entropy(la, R["e1"][b], weight=weight_u)
                    + 0.5 * nn.functional.cross_entropy(lu, R["e2"][b], weight=weight_u))
            eb = eb_perm[s * eb_batch:(s + 1) * eb_batch]
            if len(eb):
                pred = tuner.vad(tuner.encode([states[eb_idx[int(i)]] for i in eb]))
                loss = loss + 2.0 * ((pred - eb_y[eb]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        tuner.eval()
        with torch.no_grad():
            outs = [forward(V, torch.arange(i, min(i + 128, len(V["y"])))) for i in range(0, len(V["y"]), 128)]
            full = torch.cat([o[2][0] for o in outs]).argmax(1).numpy()
            base = torch.cat([o[3][0] for o in outs]).argmax(1).numpy()
            utt = torch.cat([o[1] for o in outs]).argmax(1).numpy()
        gold = V["y"].numpy()
        score = macro_f1(gold, full)
        print(f"epoch {n_epoch} ({time.time() - t0:.0f}s): valid macro-F1 full {score:.4f}, "
              f"w/o personality {macro_f1(gold, base):.4f}; user utterance emotion "
              f"{macro_f1(V['e2'].numpy(), utt):.4f}", flush=True)
        if score > best[0]:  # written at once: a long run can be stopped and still leaves its best
            best = (score, n_epoch)
            arrays = {**export_lora(tuner), "emo_w": tuner.emo.weight.detach().numpy().T.copy(),
                      "emo_b": tuner.emo.bias.detach().numpy().copy()}
            np.savez_compressed(args.out, **{k: v.astype(np.float16) for k, v in arrays.items()})
            meta = {"seed": args.seed, "epochs": args.epochs, "chosen_epoch": n_epoch, "rank": RANK,
                    "lora_alpha": LORA_ALPHA, "top_layers": TOP, "targets": list(LORA_TARGETS),
                    "alpha": args.alpha, "lr": args.lr, "valid_macro_f1_joint_head": round(score, 4)}
            args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
            print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB), epoch {n_epoch}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
