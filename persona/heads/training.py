"""What the training scripts share: one epoch of shuffled minibatches, and the weights of a
one-hidden-layer network as the arrays the heads ship (torch is only needed to train)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def epoch(model: Any, opt: Any, n: int, batch: int, gen: Any, loss_of: Callable[[Any], Any]) -> None:
    """One pass over ``n`` examples in a fresh random order (``gen``), ``batch`` at a time;
    ``loss_of(indices)`` gives the batch's loss. Leaves the model in eval mode."""
    import torch

    model.train()
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n, batch):
        opt.zero_grad()
        loss_of(perm[i:i + batch]).backward()
        opt.step()
    model.eval()


def mlp_weights(model: Any) -> dict[str, np.ndarray]:
    """``nn.Sequential(Linear, activation, Dropout, Linear)`` → w1 [in, h], b1, w2 [h, out], b2."""
    first, last = model[0], model[3]
    return {"w1": first.weight.detach().numpy().T.copy(), "b1": first.bias.detach().numpy().copy(),
            "w2": last.weight.detach().numpy().T.copy(), "b2": last.bias.detach().numpy().copy()}
