"""ResNet-18 with the CIFAR-style stem (one kernel_size conv, no 7x7/stride-2 conv, no max pool)."""

from __future__ import annotations

import torch
from torch import nn

from raycnn.models.layers import conv
from raycnn.models.registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, kernel_size: int):
        super().__init__()
        self.body = nn.Sequential(
            conv(in_channels, out_channels, kernel_size, stride, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            conv(out_channels, out_channels, kernel_size, bias=False), nn.BatchNorm2d(out_channels),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


@register_model("resnet18")
def resnet18(in_channels: int, num_classes: int, input_size: tuple[int, int], kernel_size: int = 3) -> nn.Module:
    """He et al. 2016, 18 layers: stages of 64-128-256-512 channels, two basic blocks each."""
    width = 64
    layers: list[nn.Module] = [conv(in_channels, width, kernel_size, bias=False), nn.BatchNorm2d(width),
                               nn.ReLU(inplace=True)]
    channels = width
    for stage, stride in enumerate((1, 2, 2, 2)):
        out_channels = width * 2 ** stage
        layers += [BasicBlock(channels, out_channels, stride, kernel_size),
                   BasicBlock(out_channels, out_channels, 1, kernel_size)]
        channels = out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)
