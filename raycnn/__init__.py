"""raycnn: compare convolutional networks on image datasets.

One trial without Ray:  python -m raycnn.train --dataset digits --arch custom_cnn --epochs 10
"""

__version__ = "0.1.0"
