"""Classifiers by name, one file each: ``mlp`` (the paper's network), ``cnn`` (small images such as
3 x 8 x 8 coloured digits), ``resnet18`` (ResNet-18-sized, for CelebA-sized images).

Every setting's data is a 2D float matrix X (n, d); an image setting stores flattened C*H*W pixels
and declares ``input_shape = (C, H, W)``. :func:`build_model` returns an ``nn.Module`` that maps
(n, d) to two logits and reshapes internally. This module imports no torch, so that
:mod:`fairbench.hparams` can validate model names cheaply; the model files are imported on use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

#: name -> "module:class"; the class takes ``(n_features, input_shape=None, *, dropout=0.0)``.
MODELS: dict[str, str] = {
    "mlp": "fairbench.models.mlp:MLP",
    "cnn": "fairbench.models.cnn:SmallCNN",
    "resnet18": "fairbench.models.resnet:ResNet18",
}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)

#: The model whose meta step and real step are written out by hand (fairbench/method/meta.py, backprop.py).
FAST_PATH_MODEL = "mlp"


def model_class(name: str) -> type[nn.Module]:
    """The class registered under ``name``; unknown names list the valid ones."""
    try:
        module_name, class_name = MODELS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODEL_NAMES)}") from None
    return getattr(importlib.import_module(module_name), class_name)


def build_model(name: str, n_features: int, input_shape: tuple[int, int, int] | None = None,
                **hparams: Any) -> nn.Module:
    """Instantiate model ``name`` for ``n_features`` inputs (an image model needs ``input_shape``).

    ``hparams`` are the model's keyword options (``dropout``). Weights are drawn from torch's global
    generator, as ``nn.Module`` constructors do; seed it (or fork it) around the call.
    """
    return model_class(name)(n_features, input_shape, **hparams)


def check_image_shape(name: str, n_features: int, input_shape: tuple[int, int, int] | None) -> tuple[int, int, int]:
    """``input_shape`` as a (C, H, W) tuple whose product is ``n_features``, or a one-line error."""
    if input_shape is None:
        raise ValueError(f"model {name!r} needs image input, but the setting has flat features (no input_shape); "
                         "use --model mlp, or a setting that declares input_shape (C, H, W)")
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or shape[0] * shape[1] * shape[2] != n_features:
        raise ValueError(f"model {name!r}: input_shape {shape} does not match the {n_features} features "
                         "(expected (C, H, W) with C*H*W = n_features)")
    return shape  # type: ignore[return-value]
