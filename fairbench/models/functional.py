"""Any ``torch.nn.Module`` as a pure function of a parameter tuple, and seeded dropout passes: what
the meta step and the real step of the generic (``torch.func``) path need of a model
(:mod:`fairbench.method.meta_functional`, :mod:`fairbench.training.generic_step`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.func import functional_call

from fairbench.models.optim import Params


class FunctionalModel:
    """An ``nn.Module`` as a function of a tuple of parameter tensors (in ``named_parameters`` order);
    buffers are passed through unchanged."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.names = tuple(name for name, _ in module.named_parameters())
        self.buffers = dict(module.named_buffers())

    def parameters(self) -> Params:
        """The module's current parameters, detached."""
        return tuple(p.detach() for p in self.module.parameters())

    def __call__(self, params: Params, x: Tensor, *, train: bool) -> Tensor:
        """Logits of ``x`` at ``params``; ``train`` selects training mode (dropout on)."""
        self.module.train(train)
        return functional_call(self.module, (dict(zip(self.names, params, strict=True)), self.buffers), (x,))


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block with torch's global generator (CPU, and ``device`` if CUDA) seeded with ``seed``,
    restoring the previous random state afterwards."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def draw_seed(generator: torch.Generator) -> int:
    """A seed for one pass's dropout masks, from the run's dropout generator."""
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
