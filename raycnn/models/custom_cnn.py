"""The custom CNN users build by hand: blocks of convolutions, pooling, a dense head.

Defaults are the CIFAR-10 model of the hand-run study: blocks of 32-64-128 filters with two 3x3
convolutions each, batch norm, dense 512-256; 1,471,466 trainable parameters on 3x32x32 with 10
classes. As in that model, batch norm follows the last convolution of each block and the first
dense layer. The 25%-study variant is filters=(64, 128), convs_per_block=1, batch_norm=False,
dense_units=(256,): 2,175,626 parameters. Dropout (after each block and dense layer) is 0 by default:
raycnn's recipe trains for 10 epochs, where dropout only slows learning (measured: 82.0% with 0.25,
84.1% with 0.1, 84.6% with 0 on CIFAR-10, same recipe otherwise); the users' model had 0.25
(`model.dropout: 0.25`, as recipes/users.yaml and the users'-recipe sweeps set it).
"""

from __future__ import annotations

from torch import nn

from raycnn.models.layers import Classifier, Dropout, conv, dense_head, feature_count
from raycnn.models.registry import register_model


@register_model("custom_cnn")
def custom_cnn(in_channels: int, num_classes: int, input_size: tuple[int, int], kernel_size: int = 3,
               filters: tuple[int, ...] = (32, 64, 128), convs_per_block: int = 2, batch_norm: bool = True,
               pooling: str = "max", head: str = "flatten", dense_units: tuple[int, ...] = (512, 256),
               dropout: float = 0.0) -> nn.Module:
    blocks, width = [], in_channels
    for out_channels in filters:
        blocks.append(_block(width, out_channels, kernel_size, convs_per_block, batch_norm, pooling, dropout))
        width = out_channels
    features = nn.Sequential(*blocks)
    if head == "gap":
        features.append(nn.AdaptiveAvgPool2d(1))
    flat = feature_count(features, in_channels, input_size)
    return Classifier(features, dense_head(flat, tuple(dense_units), num_classes, dropout, batch_norm))


def _block(in_channels: int, out_channels: int, kernel_size: int, convs: int, batch_norm: bool,
           pooling: str, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index in range(convs):
        layers.append(conv(in_channels if index == 0 else out_channels, out_channels, kernel_size))
        if batch_norm and index == convs - 1:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    pool = nn.MaxPool2d(2) if pooling == "max" else nn.AvgPool2d(2)
    return nn.Sequential(*layers, pool, Dropout(dropout))
