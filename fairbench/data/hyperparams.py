"""A setting's hyper-parameters: the reference's values for the paper's settings (docs/method.md §5),
the declared defaults with the spec's own values for every other registered setting."""

from __future__ import annotations

from fairbench.data.registry import get_setting
from fairbench.hparams import DEFAULT_HYPERPARAMS, REFERENCE_HYPERPARAMS, HyperParams


def reference_hyperparams(setting: str) -> HyperParams:
    """The reference's hyper-parameters for ``setting``, else the declared defaults of a registered setting.

    A declared setting gets :data:`DEFAULT_HYPERPARAMS` with its split's ``val_per_cell`` and its
    spec's ``hyperparameters``; unknown names list the valid ones (a ValueError).
    """
    if setting in REFERENCE_HYPERPARAMS:
        return REFERENCE_HYPERPARAMS[setting]
    spec = get_setting(setting)
    return DEFAULT_HYPERPARAMS.override(val_per_cell=spec.val_per_cell, **dict(spec.hyperparams))
