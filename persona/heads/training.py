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


def transition_module(persona: bool, hidden: int) -> Any:
    """The transition head (``persona.transition.TransitionHead`` runs its exported weights)."""
    import torch
    from torch import nn

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.persona = persona
            self.l1 = nn.Linear(7 + 7 + 3 + 3 + 7 + 3, hidden)
            self.d = nn.Linear(hidden, 3)
            self.adapt = nn.Linear(3, 3)  # P = 1 + tanh(adapt(T)): how strongly this persona moves
            self.shift = nn.Linear(3, 3)  # S = 0.5 tanh(shift(T)): where this persona's responses lean
            for lin in (self.adapt, self.shift):
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)
            # the context features reach the label directly too (a linear path beside the hidden one)
            self.cls = nn.Linear(hidden + 30 + 3 + 7, 7)

        def forward(self, pa, pu, avad, uvad, oh, pre, temp):  # noqa: ANN001, ANN201, PLR0913
            x = torch.cat([pa, pu, avad, uvad, oh, pre], 1)
            h = nn.functional.gelu(self.l1(nn.functional.dropout(x, 0.1, self.training)), approximate="tanh")
            d = torch.tanh(self.d(h))
            if self.persona:
                r = pre + (1 + torch.tanh(self.adapt(temp))) * d + 0.5 * torch.tanh(self.shift(temp))
            else:
                r = pre + d
            r = torch.clamp(r, -1, 1)
            # personality reaches the label through the response VAD only (as in Wen et al.):
            # linear temperament terms learnt from six speakers would name speakers, not traits
            z = [nn.functional.dropout(h, 0.2, self.training), x, r, oh]
            return self.cls(torch.cat(z, 1)), r

    return Head()
