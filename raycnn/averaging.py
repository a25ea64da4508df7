"""Weight averaging (`train.ema_decay`): an exponential moving average of the weights (and of batch norm's
statistics), updated after every step and used wherever the model is evaluated, so the validation
score, the best checkpoint and the test results are the averaged weights'. Built on PyTorch's own
`torch.optim.swa_utils.AveragedModel`. The decay warms up ((1 + n) / (10 + n) after n updates, as timm
does), so the average is not held back by the random initial weights in a short run."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def build_average(model: nn.Module, decay: float | None) -> AveragedModel | None:
    if decay is None:
        return None

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates) -> None:
        weight = 1.0 - min(decay, (1.0 + int(updates)) / (10.0 + int(updates)))
        for a, c in zip(averaged, current):
            if a.is_floating_point():
                a.lerp_(c, weight)
            else:                               # batch norm's step counter: take the current one
                a.copy_(c)

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)


def evaluated_model(model: nn.Module, average: AveragedModel | None) -> nn.Module:
    """The weights that are evaluated: the average when there is one."""
    return average.module if average is not None else model
