"""AlexNet family: the original 224x224 design and two adaptations to small images.

kernel_size sets the 3x3 convolutions of the design (conv3-conv5); conv2 uses kernel_size + 2 (5x5
by default), keeping AlexNet's larger early kernels. The original's conv1 stays 11x11, stride 4.
"""

from __future__ import annotations

from torch import nn

from raycnn.models.layers import Classifier, Dropout, conv, dense_head, feature_count
from raycnn.models.registry import register_model


@register_model("alexnet")
def alexnet(in_channels: int, num_classes: int, input_size: tuple[int, int], kernel_size: int = 3,
            batch_norm: bool = False, dropout: float = 0.5) -> nn.Module:
    """Krizhevsky et al. 2012 (single tower): 96-256-384-384-256, local response normalization after
    conv1 and conv2 (batch norm instead with batch_norm=True), overlapping 3x3/2 max pooling, dense
    4096-4096. Expects ~224x224 inputs (pass image_size=224 for small datasets)."""
    def norm(channels: int) -> nn.Module:
        return nn.BatchNorm2d(channels) if batch_norm else nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)

    features = nn.Sequential(
        nn.Conv2d(in_channels, 96, 11, stride=4, padding=2), nn.ReLU(inplace=True), norm(96),
        nn.MaxPool2d(3, stride=2),
        conv(96, 256, kernel_size + 2), nn.ReLU(inplace=True), norm(256), nn.MaxPool2d(3, stride=2),
        conv(256, 384, kernel_size), nn.ReLU(inplace=True),
        conv(384, 384, kernel_size), nn.ReLU(inplace=True),
        conv(384, 256, kernel_size), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
    )
    flat = feature_count(features, in_channels, input_size)
    head = nn.Sequential(Dropout(dropout), dense_head(flat, (4096, 4096), num_classes, dropout))
    return Classifier(features, head)


@register_model("alexnet_cifar")
def alexnet_cifar(in_channels: int, num_classes: int, input_size: tuple[int, int], kernel_size: int = 3,
                  batch_norm: bool = True, dropout: float = 0.5) -> nn.Module:
    """AlexNet adapted to 32x32: the same 96-256-384-384-256 convolutions (5x5, 5x5, then
    kernel_size), batch norm where the original has response normalization, 2x2 pooling after
    conv1, conv2 and conv5, dense 4096-4096. 37,323,850 parameters on CIFAR-10."""
    def norm(channels: int) -> list[nn.Module]:
        return [nn.BatchNorm2d(channels)] if batch_norm else []

    features = nn.Sequential(
        conv(in_channels, 96, kernel_size + 2), *norm(96), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        conv(96, 256, kernel_size + 2), *norm(256), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        conv(256, 384, kernel_size), nn.ReLU(inplace=True),
        conv(384, 384, kernel_size), nn.ReLU(inplace=True),
        conv(384, 256, kernel_size), nn.ReLU(inplace=True), nn.MaxPool2d(2),
    )
    flat = feature_count(features, in_channels, input_size)
    return Classifier(features, dense_head(flat, (4096, 4096), num_classes, dropout))


@register_model("alexnet_small")
def alexnet_small(in_channels: int, num_classes: int, input_size: tuple[int, int], kernel_size: int = 3,
                  dropout: float = 0.5) -> nn.Module:
    """The small AlexNet-style net of the 25% study: 32-64-128-128-64 convolutions (all
    kernel_size), pooling after conv1, conv2 and conv5, dense 256-128. 611,210 parameters on
    CIFAR-10."""
    features = nn.Sequential(
        conv(in_channels, 32, kernel_size), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        conv(32, 64, kernel_size), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        conv(64, 128, kernel_size), nn.ReLU(inplace=True),
        conv(128, 128, kernel_size), nn.ReLU(inplace=True),
        conv(128, 64, kernel_size), nn.ReLU(inplace=True), nn.MaxPool2d(2),
    )
    flat = feature_count(features, in_channels, input_size)
    return Classifier(features, dense_head(flat, (256, 128), num_classes, dropout))
