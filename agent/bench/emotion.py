"""``agent bench emotion``: response-emotion prediction on PELD, next to baselines from the same run.

Scores accuracy, macro-F1 and weighted-F1 (PELD is 43% neutral, so macro-F1 is the one that
matters) of the personality-affected transition head, and of three baselines: the majority
class, copying the preceding emotion, and the same transition trained without personality.
``ok`` is false when the full model does not beat every baseline on macro-F1.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from agent.bench.report import BenchOptions, Figure, Suite, Timing

QUICK_ROWS = 60
BOOTSTRAP = 1000


def paired_bootstrap(gold: np.ndarray, a: np.ndarray, b: np.ndarray, seed: int) -> float:
    """How often ``a`` beats ``b`` on macro-F1 over resamples of the rows: how much the gap
    could be luck of the split."""
    from persona.transition import macro_f1

    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(gold), len(gold))
        wins += macro_f1(gold[i], a[i]) > macro_f1(gold[i], b[i])
    return wins / BOOTSTRAP


def run(opts: BenchOptions) -> Suite:
    from perception.embeddings import MODEL_NAME
    from persona.emotion import LABELS
    from persona.heads import data_dir
    from persona.temperament import temperament
    from persona.transition import TransitionHead, read_peld, scores

    path = Path(opts.peld) if opts.peld else data_dir() / "peld" / "peld_valid.tsv"
    suite = Suite("emotion", models={"embeddings": MODEL_NAME, "head": "persona/heads/transition.npz"})
    t0 = time.perf_counter()
    rows = read_peld(path, limit=QUICK_ROWS if opts.quick else None, cached=False)
    encode_s = time.perf_counter() - t0
    suite.timings.append(Timing("encode context (MiniLM + text VAD) per row", [1000 * encode_s / len(rows)]))

    full, base = TransitionHead(personality=True), TransitionHead(personality=False)
    temper = temperament(rows.traits).astype(np.float32)
    t0 = time.perf_counter()
    full_probs, _ = full(rows.context, rows.pre_vad, rows.pre, temper)
    head_s = time.perf_counter() - t0
    base_probs, _ = base(rows.context, rows.pre_vad, rows.pre, temper)
    suite.timings.append(Timing("transition head per row", [1000 * head_s / len(rows)]))

    majority = int(np.bincount(rows.label, minlength=7).argmax())
    predictions = {
        "majority class": np.full(len(rows), majority),
        "copy preceding": rows.pre,
        "transition w/o personality": base_probs.argmax(1),
        "full model": full_probs.argmax(1),
    }
    results = {name: scores(rows.label, pred) for name, pred in predictions.items()}
    for name, s in results.items():
        for metric, value in s.items():
            suite.figures.append(Figure(f"{name}: {metric}", round(value, 4)))
    best_name, best = max(((n, s) for n, s in results.items() if n != "full model"),
                          key=lambda item: item[1]["macro_f1"])
    best_baseline = best["macro_f1"]
    full_f1 = results["full model"]["macro_f1"]
    suite.ok = full_f1 > best_baseline
    wins = paired_bootstrap(rows.label, predictions["full model"], predictions[best_name], opts.seed)
    suite.figures.append(Figure(f"bootstrap P(full > {best_name})", round(wins, 3)))
    suite.notes.append(f"{path.name}: {len(rows)} rows; majority class = {LABELS[majority]}")
    suite.notes.append(f"full model macro-F1 {full_f1:.4f} vs best baseline {best_baseline:.4f}: "
                       f"{'beats' if suite.ok else 'does NOT beat'} every baseline")
    if opts.quick:
        suite.notes.append(f"--quick: first {QUICK_ROWS} rows only; figures are not comparable")
        suite.ok = True  # too few rows to judge; quick only keeps the code path alive
    return suite
