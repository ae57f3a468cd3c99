"""A run's random streams and initial weights (docs/protocols.md, "Initial weights"): every stream
(shuffling, dropout, init) is derived from the seed, so a seed starts every method from the same
weights on every device."""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import Tensor

from fairbench.evaluation.protocols import Protocol
from fairbench.models.functional_mlp import MLPParams, init_mlp


def stream_seed(seed: int, stream: str) -> int:
    """Independent, reproducible seed for one random stream (shuffling, dropout, init) of a run."""
    words = [seed, *(ord(ch) for ch in stream)]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] >> 1)


def initial_params(n_features: int, seed: int, protocol: Protocol) -> MLPParams:
    """Initial weights drawn from the seed alone (``protocol.init == "seed"``, docs/protocols.md,
    "Initial weights"): every method of a seed starts from the same weights, each seed from its own."""
    if protocol.init != "seed":
        raise ValueError(f"unknown init scheme {protocol.init!r}")
    return init_mlp(n_features, generator=torch.Generator().manual_seed(stream_seed(seed, "init")))


def params_fingerprint(params: tuple[Tensor, ...]) -> str:
    """First 16 hex digits of the sha256 of the parameters' bytes (in order, contiguous): equal
    fingerprints mean bitwise-equal weights, up to hash collisions."""
    digest = hashlib.sha256()
    for tensor in params:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
