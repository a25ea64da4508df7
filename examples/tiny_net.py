"""A model of your own, for `model.arch: examples/tiny_net.py:TinyNet` (see sweeps/your_model.yaml).

raycnn calls the class with the arguments it names: in_channels, num_classes (and, if it asked for
them, input_size and kernel_size), plus any model.* option it takes by name (here `width` and
`dropout`: `model: {kwargs: {width: 48}, dropout: 0.2}`). It must return logits [N, num_classes].
"""

from torch import nn


class TinyNet(nn.Module):
    """Two conv blocks with a kernel of raycnn's `model.kernel_size`, global average pooling, a linear head."""

    def __init__(self, in_channels: int, num_classes: int, kernel_size: int = 3, width: int = 32,
                 dropout: float = 0.0):
        super().__init__()
        pad = kernel_size // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size, padding=pad), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, kernel_size, padding=pad), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * width, num_classes))

    def forward(self, x):
        return self.head(self.features(x))
