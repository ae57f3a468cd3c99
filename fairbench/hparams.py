"""Per-setting hyper-parameters of the reference (docs/method.md §5) and their command-line overrides."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, fields
from typing import Any

from fairbench.models import FAST_PATH_MODEL, MODEL_NAMES


@dataclass(frozen=True)
class HyperParams:
    """Everything a training run needs besides data, method, seed and protocol.

    ``bargain_epochs`` is T of the two-stage schedule (docs/method.md §4); ``val_per_cell`` is the number of
    validation rows per (group, label) cell used when a split is drawn anew. ``model`` names the
    classifier (:mod:`fairbench.models`; ``mlp`` is the paper's network). ``fair_lambda`` is the weight of
    the gap regularisers' penalty and of the adversary (docs/method.md §6); ``fairgrad_alpha`` is FairGrad's
    alpha (1 = proportional fairness, the Nash solution).
    """

    lr: float
    dropout: float
    batch_size: int
    epochs: int
    bargain_epochs: int
    val_per_cell: int
    momentum: float = 0.9
    weight_decay: float = 5e-4
    dro_fraction: float = 0.4
    group_dro_step_size: float = 0.01
    cagrad_c: float = 0.5
    fair_lambda: float = 1.0
    fairgrad_alpha: float = 2.0
    weight_norm: str = "l2"
    hypergradient_backend: str = "factorised"
    threads: int = 1
    model: str = "mlp"

    def __post_init__(self) -> None:
        wrong = _wrong_types(self)
        if wrong:
            raise ValueError("invalid hyper-parameters: " + "; ".join(wrong))
        problems = [f"{name} must be a finite number (got {getattr(self, name)!r})"
                    for name in _FLOAT_FIELDS if not math.isfinite(getattr(self, name))]
        if problems:
            raise ValueError("invalid hyper-parameters: " + "; ".join(problems))
        if self.epochs > MAX_EPOCHS:
            problems.append(f"epochs must be at most {MAX_EPOCHS} (got {self.epochs})")
        if self.threads > MAX_THREADS:
            problems.append(f"threads must be at most {MAX_THREADS} (got {self.threads})")
        if not 0.0 <= self.momentum < 1.0:
            problems.append(f"momentum must be in [0, 1) (got {self.momentum!r})")
        if self.weight_decay < 0 or self.cagrad_c < 0:
            problems.append(f"weight_decay and cagrad_c must be >= 0 (got {self.weight_decay!r}, {self.cagrad_c!r})")
        if self.fair_lambda < 0:
            problems.append(f"fair_lambda must be >= 0 (got {self.fair_lambda!r})")
        if self.fairgrad_alpha <= 0:
            problems.append(f"fairgrad_alpha must be > 0 (got {self.fairgrad_alpha!r})")
        if self.group_dro_step_size <= 0:
            problems.append(f"group_dro_step_size must be > 0 (got {self.group_dro_step_size!r})")
        for name in ("lr", "batch_size", "epochs"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be > 0 (got {getattr(self, name)!r})")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1) (got {self.dropout!r})")
        if self.bargain_epochs < 0 or self.val_per_cell < 1 or self.threads < 1:
            problems.append("bargain_epochs must be >= 0, val_per_cell and threads >= 1 "
                            f"(got {self.bargain_epochs}, {self.val_per_cell}, {self.threads})")
        if not 0.0 < self.dro_fraction <= 1.0:
            problems.append(f"dro_fraction must be in (0, 1] (got {self.dro_fraction!r})")
        if self.weight_norm not in ("l2", "sum"):
            problems.append(f"weight_norm must be 'l2' or 'sum' (got {self.weight_norm!r})")
        if self.hypergradient_backend not in HYPERGRADIENT_BACKENDS:
            problems.append(f"hypergradient_backend must be one of {sorted(HYPERGRADIENT_BACKENDS)} "
                            f"(got {self.hypergradient_backend!r})")
        if self.model not in MODEL_NAMES:
            problems.append(f"model must be one of {list(MODEL_NAMES)} (got {self.model!r})")
        elif self.model != FAST_PATH_MODEL and self.hypergradient_backend in MLP_ONLY_BACKENDS:
            problems.append(f"hypergradient_backend {self.hypergradient_backend!r} exists for the MLP only; "
                            f"model {self.model!r} uses 'generic' (torch.func) or the default")
        if problems:
            raise ValueError("invalid hyper-parameters: " + "; ".join(problems))

    def override(self, **changes: Any) -> HyperParams:
        """A copy with some fields replaced; unknown names raise ValueError listing valid ones."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ValueError(f"unknown hyper-parameter(s) {unknown}; valid: {sorted(f.name for f in fields(self))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: "factorised" (default), "functorch" and "autograd" compute the MLP's hypergradients (fairbench/method/meta.py);
#: "generic" trains any model through torch.func (fairbench/method/meta_functional.py), the only path of a model
#: other than the MLP (for which the default "factorised" then means "generic").
HYPERGRADIENT_BACKENDS = frozenset({"factorised", "functorch", "autograd", "generic"})
MLP_ONLY_BACKENDS = frozenset({"functorch", "autograd"})
#: Upper bounds that keep a typo (``--epochs 99999999999999999999``) from reaching the training loop.
MAX_EPOCHS = 100_000
MAX_THREADS = 1024
_FLOAT_FIELDS = tuple(f.name for f in fields(HyperParams) if f.type == "float")


def _wrong_types(hp: HyperParams) -> list[str]:
    """One message per field whose value is not of its declared type (an int is a valid float)."""
    expected = {"float": (numbers.Real, "a number"), "int": (numbers.Integral, "an integer"), "str": (str, "a string")}
    wrong = []
    for f in fields(hp):
        kind, label = expected[str(f.type)]
        value = getattr(hp, f.name)
        if isinstance(value, bool) or not isinstance(value, kind):
            wrong.append(f"{f.name} must be {label} (got {value!r})")
    return wrong

#: docs/method.md §5, one row per setting (lr, dropout, batch, epochs, T, validation rows per cell).
REFERENCE_HYPERPARAMS: dict[str, HyperParams] = {
    "adult-sex": HyperParams(lr=1e-3, dropout=0.2, batch_size=512, epochs=50, bargain_epochs=15, val_per_cell=3),
    "adult-race": HyperParams(lr=5e-4, dropout=0.4, batch_size=512, epochs=50, bargain_epochs=15, val_per_cell=3),
    "bank-age": HyperParams(lr=1e-3, dropout=0.3, batch_size=512, epochs=50, bargain_epochs=15, val_per_cell=3),
    "default_credit-sex": HyperParams(lr=1e-3, dropout=0.5, batch_size=512, epochs=100, bargain_epochs=100,
                                      val_per_cell=4),
    "student_por-sex": HyperParams(lr=1e-3, dropout=0.05, batch_size=32, epochs=50, bargain_epochs=10, val_per_cell=2),
    "titanic-sex": HyperParams(lr=1e-3, dropout=0.4, batch_size=128, epochs=50, bargain_epochs=50, val_per_cell=1),
    "us_crime-blackgt6pct": HyperParams(lr=1e-4, dropout=0.2, batch_size=32, epochs=50, bargain_epochs=15,
                                        val_per_cell=1),
}


#: Defaults of a setting without reference values (every declared setting): its spec's
#: ``hyperparameters`` are applied over these, and ``val_per_cell`` comes from its split recipe
#: (:func:`fairbench.data.hyperparams.reference_hyperparams`).
DEFAULT_HYPERPARAMS = HyperParams(lr=1e-3, dropout=0.2, batch_size=128, epochs=50, bargain_epochs=15, val_per_cell=2)


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` into a typed pair, the type taken from the HyperParams field."""
    key, sep, raw = text.partition("=")
    types = {f.name: f.type for f in fields(HyperParams)}
    if not sep or key not in types:
        raise ValueError(f"bad override {text!r}: expected key=value with key in {sorted(types)}")
    kind = types[key]
    try:
        value: Any = {"float": float, "int": int, "str": str}[kind](raw)
    except ValueError:
        raise ValueError(f"bad override {text!r}: {key} takes a {kind}") from None
    return key, value
