"""A ResNet-18-sized classifier for colour images (He et al. 2016; about 11.2M parameters).

Four stages of two basic blocks (64, 128, 256, 512 channels), global average pooling, dropout and a
2-way linear head. Two deliberate changes from torchvision's ``resnet18``:

- GroupNorm (32 groups) instead of BatchNorm. Batch statistics couple the samples of a batch whose
  weights the meta step learns, and the look-ahead and validation passes would update running
  statistics; GroupNorm is per sample and has no buffers.
- The stem follows the image size: the ImageNet stem (7 x 7 stride-2 convolution, 3 x 3 max pool)
  for images of at least 64 pixels a side, else the small-image stem (3 x 3 stride 1, no pool).
Global pooling is a mean, so the backward pass has no non-deterministic CUDA kernel.
"""

from __future__ import annotations

from torch import Tensor, nn

from fairbench.models.functional_mlp import N_CLASSES
from fairbench.models import check_image_shape

STAGES: tuple[int, ...] = (64, 128, 256, 512)
IMAGENET_STEM_MIN_SIDE = 64


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels), channels)


class BasicBlock(nn.Module):
    """Two 3 x 3 convolutions with a residual connection (1 x 1 projection when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.norm1 = _norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.norm2 = _norm(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), _norm(c_out))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(self.conv1(x)).relu()
        h = self.norm2(self.conv2(h))
        return (h + self.shortcut(x)).relu()


class ResNet18(nn.Module):
    """ResNet-18 over flattened C*H*W rows, two logits out."""

    def __init__(self, n_features: int, input_shape: tuple[int, int, int] | None = None, *,
                 dropout: float = 0.0, widths: tuple[int, ...] = STAGES) -> None:
        super().__init__()
        self.input_shape = check_image_shape("resnet18", n_features, input_shape)
        c, h, w = self.input_shape
        if min(h, w) >= IMAGENET_STEM_MIN_SIDE:
            self.stem = nn.Sequential(nn.Conv2d(c, widths[0], 7, stride=2, padding=3, bias=False), _norm(widths[0]),
                                      nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        else:
            self.stem = nn.Sequential(nn.Conv2d(c, widths[0], 3, padding=1, bias=False), _norm(widths[0]), nn.ReLU())
        blocks: list[nn.Module] = []
        c_in = widths[0]
        for i, c_out in enumerate(widths):
            stride = 1 if i == 0 else 2
            blocks += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, N_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x.reshape(x.shape[0], *self.input_shape))
        h = self.blocks(h).mean(dim=(2, 3))
        return self.head(self.drop(h))
