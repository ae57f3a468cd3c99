"""``fairbench bench --device``: ms per training step on the CPU and on a device (a GPU), for ERM, LtR
and NBS+LtR (stage 1), through the MLP's hand-written step and the generic ``torch.func`` step
(:mod:`fairbench.training.generic_step`), or for any model by name (``--model``). CUDA timings synchronise
the device before reading the clock."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from fairbench.method.meta import ValidationSet
from fairbench.registry import build_method
from fairbench.runs.execute import RunSpec, load_run_data
from fairbench.training.loop import build_step

STEPS: tuple[str, ...] = ("erm", "ltr", "nbs_ltr")


def _median_ms(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def step_times(setting: str, devices: list[torch.device], *, prepared_dir: str | None, model: str | None,
               repeats: int, warmup: int) -> list[dict[str, object]]:
    """One row per (path, step): ms per step on each device, on one batch of ``setting``
    (paper-protocol split and hyper-parameters, ``model`` if given)."""
    spec = RunSpec.resolve(setting, "erm", 0, "paper", {"model": model} if model else None)
    data = load_run_data(spec, prepared_dir)
    tr, va = data.train.to_torch(), data.val.to_torch()
    B = min(spec.hparams.batch_size, len(tr.y))
    paths = ["fast", "generic"] if spec.hparams.model == "mlp" else ["generic"]
    rows: list[dict[str, object]] = []
    for path in paths:
        hp = spec.hparams.override(hypergradient_backend="factorised" if path == "fast" else "generic")
        for name in STEPS:
            row: dict[str, object] = {"setting": setting, "model": hp.model, "path": path, "step": name, "B": B}
            for device in devices:
                val = ValidationSet.build(va.X.to(device), va.y.to(device), va.group.to(device), data.n_groups)
                method = build_method(name, hp, spec.protocol, ValidationSet.build(va.X, va.y, va.group, data.n_groups))
                trainer, _ = build_step(data, method, hp, spec.protocol, 0, val, device)
                x, y, group = tr.X[:B].to(device), tr.y[:B].to(device), tr.group[:B].to(device)
                row[str(device)] = _median_ms(lambda: trainer.step(x, y, group, epoch=1), device, repeats, warmup)
            rows.append(row)
    return rows


def report(rows: list[dict[str, object]], devices: list[torch.device]) -> str:
    """Table of ms per step per device, with the ratio of the last device to the first."""
    names = [str(d) for d in devices]
    head = (f"{'setting':<16} {'model':<9} {'path':<8} {'step':<8} {'B':>5} "
            + " ".join(f"{n + ' ms':>12}" for n in names))
    lines = [head + (f" {'speed-up':>9}" if len(names) > 1 else "")]
    for r in rows:
        line = (f"{r['setting']!s:<16} {r['model']!s:<9} {r['path']!s:<8} {r['step']!s:<8} {r['B']!s:>5} "
                + " ".join(f"{r[n]:>12.3f}" for n in names))
        if len(names) > 1:
            line += f" {r[names[0]] / r[names[-1]]:>8.1f}x"  # type: ignore[operator]
        lines.append(line)
    return "\n".join(lines)
