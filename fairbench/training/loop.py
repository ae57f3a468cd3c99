"""The one training loop of every method and model (docs/method.md §2): shuffled mini-batches
(drop_last), one step of the run's model seam per batch (:mod:`fairbench.training.step`), and an
evaluation on validation and test data after every epoch."""

from __future__ import annotations

import dataclasses
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from fairbench.data import SplitData
from fairbench.data.splits import TorchPart
from fairbench.evaluation import metrics
from fairbench.evaluation.protocols import Protocol
from fairbench.hparams import HyperParams
from fairbench.method.base import Method, TrainingData
from fairbench.method.meta import ValidationSet, meta_loss_per_example
from fairbench.models.functional_mlp import MLPParams
from fairbench.training.device import configure as configure_device
from fairbench.training.device import resolve_device
from fairbench.training.generic_step import GenericStep, initial_model, uses_fast_path
from fairbench.training.init import initial_params, params_fingerprint, stream_seed
from fairbench.training.mlp_step import MLPStep
from fairbench.training.step import ModelStep, StepRecord

#: Per-batch diagnostics averaged into per-epoch rates (name in metrics.csv <- per-batch key).
RATE_COLUMNS = {
    "alignment_rate": "aligned",
    "applied_alignment_rate": "applied_aligned",
    "nbs_solvable_rate": "nbs_solvable",
    "aggregator_failure_rate": "aggregator_failed",
    "alpha_mean": "alpha_mean",
    "pareto_improvement_rate": "pareto_improved",
}


@dataclass(frozen=True)
class RunTrace:
    """Per-epoch rows (what metrics.csv holds) and run-level counters."""

    rows: list[dict[str, float]]
    steps: int
    meta_steps: int
    seconds: float
    init_fingerprint: str  # params_fingerprint of the initial weights
    test_labels: np.ndarray  # (epochs, n_test) uint8 test-set argmax labels, epoch e at row e-1


def _evaluate(logits_of: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, group: Tensor, group_names: list[str],
              prefix: str = "", labels_out: list[np.ndarray] | None = None) -> dict[str, float]:
    """Metrics of one evaluation set; ``labels_out`` receives the hard labels the metrics used.

    ``logits_of`` is a trainer's eval-mode ``logits``; ``x`` is on the trainer's device, ``y`` and
    ``group`` on the CPU."""
    with torch.no_grad():
        logits = logits_of(x).cpu()
        score = torch.softmax(logits, dim=1)[:, 1]
    out = metrics.evaluate(y.numpy(), score.numpy(), group.numpy(), group_names)
    if labels_out is not None:
        labels_out.append((score.numpy() > 0.5).astype(np.uint8))  # metrics.evaluate's argmax rule
    if prefix:
        out = {f"{prefix}{k}": v for k, v in out.items() if "/" not in k}
        with torch.no_grad():
            out[f"{prefix}meta_loss"] = float(meta_loss_per_example(logits, y).mean())
    return out


def _epoch_row(epoch: int, records: list[StepRecord], cell_names: list[str]) -> dict[str, float]:
    """Average one epoch's step records into the diagnostics columns of metrics.csv."""
    n = len(records)
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for record in records:
        for key, v in record.diagnostics.items():
            sums[key] += v
            counts[key] += 1
    row: dict[str, float] = {"epoch": float(epoch), "train_loss": sum(r.loss for r in records) / n}
    row["stage"] = sums["stage"] / counts["stage"] if counts["stage"] else math.nan
    for column, key in RATE_COLUMNS.items():
        row[column] = sums[key] / counts[key] if counts[key] else math.nan
    row["nbs_failures"] = float(counts["nbs_solvable"] - sums["nbs_solvable"]) if counts["nbs_solvable"] else math.nan
    row["aggregator_failures"] = sums["aggregator_failed"] if counts["aggregator_failed"] else math.nan
    before = torch.stack([r.cell_loss_before for r in records]).double().mean(dim=0)
    after = torch.stack([r.cell_loss_after for r in records]).double().mean(dim=0)
    for c, cell_name in enumerate(cell_names):
        row[f"val_cell_loss_before/{cell_name}"] = float(before[c])
        row[f"val_cell_loss_after/{cell_name}"] = float(after[c])
    return row


def _on_device(part: TorchPart, device: torch.device) -> TorchPart:
    """A split part with every tensor on ``device`` (the same tensors on the CPU)."""
    return dataclasses.replace(part, **{f.name: getattr(part, f.name).to(device) for f in dataclasses.fields(part)})


def build_step(data: SplitData, method: Method, hp: HyperParams, protocol: Protocol, seed: int,
                  val: ValidationSet, device: torch.device, *,
                  manual_backprop: bool = True) -> tuple[ModelStep, tuple[Tensor, ...]]:
    """The model seam of a run, chosen by its model (:class:`fairbench.training.mlp_step.MLPStep` for the
    MLP's fast path, :class:`fairbench.training.generic_step.GenericStep` otherwise), and its initial weights. Weights are drawn on the CPU and moved to ``device``, so a seed starts
    from the same weights on every device; the dropout generator lives on ``device``."""
    dropout = torch.Generator(device=device).manual_seed(stream_seed(seed, "dropout"))
    label = (data.setting, seed)
    if uses_fast_path(hp):
        init = initial_params(data.n_features, seed, protocol)
        params = MLPParams(*(p.to(device) for p in init))
        return MLPStep(method, hp, val, params, dropout_generator=dropout, label=label,
                       manual_backprop=manual_backprop), init
    model = initial_model(data, hp, seed, protocol)
    init = tuple(p.detach().clone() for p in model.parameters())
    return GenericStep(method, hp, val, model.to(device), dropout_generator=dropout, label=label), init


def train(data: SplitData, method: Method, hp: HyperParams, protocol: Protocol, seed: int, *,
          on_epoch: Callable[[dict[str, float]], None] | None = None, progress: bool = True,
          manual_backprop: bool = True, device: torch.device | str = "cpu") -> RunTrace:
    """Train ``hp.model`` with ``method`` on ``device`` and return one row of metrics and diagnostics
    per epoch.

    ``manual_backprop=False`` takes the MLP's real-step gradients from autograd (same numbers, slower).
    Weights, the validation and test rows and the shuffling and dropout generators live on ``device``;
    the training rows stay on the CPU and move a batch at a time (a GPU then needs room for the model
    and a batch, not the whole training set); methods choose their weights on the CPU
    (:meth:`fairbench.method.base.StepInputs.on_cpu`).
    """
    device = resolve_device(str(device)) if not isinstance(device, torch.device) else device
    configure_device(device)
    torch.set_num_threads(hp.threads)
    tr, va, te = data.train.to_torch(), data.val.to_torch(), data.test.to_torch()
    method.prepare(TrainingData(y=tr.y, group=tr.group, n_groups=data.n_groups, seed=stream_seed(seed, "method")))
    va = _on_device(va, device)  # the training rows stay on the CPU; each batch moves on its own
    val = ValidationSet.build(va.X, va.y, va.group, data.n_groups)
    n_train, B = tr.y.shape[0], hp.batch_size
    n_batches = n_train // B
    if n_batches == 0:
        raise ValueError(f"batch_size {B} exceeds the {n_train} training rows of {data.setting}; lower --batch-size")
    trainer, init = build_step(data, method, hp, protocol, seed, val, device, manual_backprop=manual_backprop)
    shuffle = torch.Generator(device=device).manual_seed(stream_seed(seed, "shuffle"))
    test_x = te.X.to(device)
    rows: list[dict[str, float]] = []
    test_labels: list[np.ndarray] = []
    start = time.perf_counter()
    bar = tqdm(range(1, hp.epochs + 1), desc=f"{data.setting} {method.name} s{seed}", unit="epoch",
               disable=not progress, leave=False)
    for epoch in bar:
        epoch_start = time.perf_counter()
        perm = torch.randperm(n_train, generator=shuffle, device=device).cpu()
        records = []
        for b in range(n_batches):
            idx = perm[b * B:(b + 1) * B]
            x, y, group = (t[idx].to(device, non_blocking=True) for t in (tr.X, tr.y, tr.group))
            records.append(trainer.step(x, y, group, epoch, b))
        row = _epoch_row(epoch, records, data.cell_names)
        row.update(_evaluate(trainer.logits, test_x, te.y, te.group, data.group_names, labels_out=test_labels))
        row.update(_evaluate(trainer.logits, va.X, va.y.cpu(), va.group.cpu(), data.group_names, prefix="val_"))
        row["epoch_seconds"] = time.perf_counter() - epoch_start
        row["steps"] = float(epoch * n_batches)
        rows.append(row)
        bar.set_postfix(auc=f"{row['auc']:.3f}", gap=f"{row['group_auc_gap']:.3f}")
        if on_epoch is not None:
            on_epoch(row)
    steps = hp.epochs * n_batches
    return RunTrace(rows=rows, steps=steps, meta_steps=steps if method.uses_meta else 0,
                    seconds=time.perf_counter() - start, init_fingerprint=params_fingerprint(init),
                    test_labels=np.stack(test_labels))


def summarise(rows: list[dict[str, float]]) -> dict[str, Any]:
    """Run-level summary: the last epoch and the epoch with the lowest validation meta loss."""
    last = rows[-1]
    best = min(rows, key=lambda r: (r["val_meta_loss"], r["epoch"]))
    keys = ("auc", "score_auc", "worst_group_auc", "group_auc_gap", "tpr_gap")
    return {
        "last_epoch": {k: last[k] for k in ("epoch", *keys)},
        "val_selected_epoch": {k: best[k] for k in ("epoch", *keys)},
    }
