"""`airbench`: a small, fast CIFAR network after Keller Jordan's airbench94 (arXiv 2404.00498), for the
best accuracy per second: 1,972,792 parameters on 3x32x32 with 10 classes.

As published: a 2x2 stem convolution (24 channels, no padding), then three blocks of widths 64, 256,
256, each conv -> 2x2 max pool -> batch norm -> GELU -> conv -> batch norm -> GELU, with batch norm
momentum 0.6 (fast-moving statistics suit a short run), identity (Dirac) initialisation of the second
convolution's first channels, a global max pool, and a linear head whose logits are scaled by 1/9.
Left out (they need the data or the optimizer inside the model): the stem's whitening initialisation
from image patches, frozen batch-norm scales, and lookahead; raycnn's recipe (label smoothing, warmup
then linear decay, flips, test-time flips) does the rest.
"""

from __future__ import annotations

import torch
from torch import nn

from raycnn.models.layers import conv, feature_count
from raycnn.models.registry import register_model

BN_MOMENTUM = 0.6          # PyTorch's convention: the weight of the new batch (airbench's 0.6)
LOGIT_SCALE = 1 / 9


class _Block(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        first, second = conv(in_channels, out_channels, kernel_size, bias=False), conv(out_channels, out_channels,
                                                                                     kernel_size, bias=False)
        with torch.no_grad():      # the second conv starts as an identity on its first channels
            nn.init.dirac_(second.weight[:out_channels])
        super().__init__(first, nn.MaxPool2d(2), nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM), nn.GELU(),
                         second, nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM), nn.GELU())


class _Scale(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * LOGIT_SCALE


@register_model("airbench")
def airbench(in_channels: int, num_classes: int, input_size: tuple[int, int], kernel_size: int = 3,
             filters: tuple[int, ...] = (64, 256, 256)) -> nn.Module:
    stem = nn.Conv2d(in_channels, 24, kernel_size=2, padding=0, bias=True)
    blocks, width = [], 24
    for out in filters:
        blocks.append(_Block(width, out, kernel_size))
        width = out
    features = nn.Sequential(stem, nn.GELU(), *blocks, nn.AdaptiveMaxPool2d(1), nn.Flatten())
    feature_count(features, in_channels, input_size)
    return nn.Sequential(features, nn.Linear(width, num_classes, bias=False), _Scale())
