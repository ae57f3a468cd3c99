"""A small CNN for small colour images (e.g. the 2 x 8 x 8 coloured digits).

``conv3x3(C -> 16) -> ReLU -> conv3x3 stride 2 (16 -> 32) -> ReLU -> Dropout -> Linear(32 H/2 W/2 -> 64)
-> ReLU -> Dropout -> Linear(64 -> 2)``, about 38k parameters at 2 x 8 x 8. Downsampling by a strided
convolution instead of pooling keeps every backward kernel deterministic on CUDA.
"""

from __future__ import annotations

from torch import Tensor, nn

from fairbench.models.functional_mlp import N_CLASSES
from fairbench.models import check_image_shape


class SmallCNN(nn.Module):
    """Two convolutions and two linear layers; input rows are flattened C*H*W pixels."""

    def __init__(self, n_features: int, input_shape: tuple[int, int, int] | None = None, *,
                 dropout: float = 0.0, channels: tuple[int, int] = (16, 32), hidden: int = 64) -> None:
        super().__init__()
        self.input_shape = check_image_shape("cnn", n_features, input_shape)
        c, h, w = self.input_shape
        self.conv1 = nn.Conv2d(c, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, stride=2, padding=1)
        flat = channels[1] * ((h + 1) // 2) * ((w + 1) // 2)
        self.fc1 = nn.Linear(flat, hidden)
        self.fc2 = nn.Linear(hidden, N_CLASSES)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = x.reshape(x.shape[0], *self.input_shape)
        h = self.conv2(self.conv1(h).relu()).relu()
        h = self.drop(h.flatten(1))
        h = self.drop(self.fc1(h).relu())
        return self.fc2(h)
