"""The measurements of ``fairbench bench`` (what it prints: :mod:`fairbench.perf.bench_cli`): step times
on real settings, the reference's step, the scaling with the number of cells, and a step's parts."""

from __future__ import annotations

import argparse
import functools
import importlib.util
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from fairbench.method.aggregation import Weighting, WeightingResult
from fairbench.method.meta import ValidationSet
from fairbench.models.functional_mlp import NO_DROPOUT
from fairbench.method.nbs import NashBargaining
from fairbench.registry import build_method
from fairbench.runs.execute import RunSpec, load_run_data
from fairbench.training.init import initial_params
from fairbench.training.mlp_step import MLPStep


#: The reference's NBS solve is a test oracle and lives with the tests; bench times it from the source
#: checkout the package runs from (cvxpy comes with the test extras).
REFERENCE_ORACLE = Path(__file__).resolve().parents[2] / "tests" / "oracles" / "nbs_reference.py"


@functools.cache
def solve_nbs_reference() -> Callable[[torch.Tensor], tuple[np.ndarray, bool]]:
    """The reference's solve (:data:`REFERENCE_ORACLE`), or a one-line error naming what is missing."""
    if not REFERENCE_ORACLE.is_file():
        raise ValueError(f"the reference step needs {REFERENCE_ORACLE} (run bench from a source checkout)")
    if importlib.util.find_spec("cvxpy") is None:
        raise ValueError("the reference step needs cvxpy: pip install -c constraints.txt -e \".[test]\"")
    spec = importlib.util.spec_from_file_location("fairbench_nbs_reference_oracle", REFERENCE_ORACLE)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.solve_nbs_reference


class ReferenceNashBargaining(Weighting):
    """The reference's NBS solve (cvxpy/ECOS problem rebuilt per call), for timing only."""

    name = "nbs_reference"

    def __call__(self, gramian: torch.Tensor, *, generator: torch.Generator | None = None) -> WeightingResult:
        alpha, success = solve_nbs_reference()(gramian)
        return WeightingResult(alpha=torch.as_tensor(alpha, dtype=gramian.dtype), success=success)


def _median_ms(fn: Callable[[], object], repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _trainer(spec: RunSpec, data, method_name: str, backend: str = "factorised",
             aggregator: Weighting | None = None) -> MLPStep:
    va = data.val.to_torch()
    val = ValidationSet.build(va.X, va.y, va.group, data.n_groups)
    hp = replace(spec.hparams, hypergradient_backend=backend)
    method = build_method(method_name, hp, spec.protocol, val)
    if aggregator is not None:
        method.aggregator = aggregator  # type: ignore[attr-defined]
        method.solvability_probe = aggregator  # type: ignore[attr-defined]
    return MLPStep(method, hp, val, initial_params(data.n_features, 0, spec.protocol),
                   dropout_generator=torch.Generator().manual_seed(0), label=(spec.setting, 0))


def bench_setting(setting: str, *, prepared_dir: str | None, repeats: int, warmup: int,
                  reference_repeats: int) -> list[tuple[str, float]]:
    """(label, ms) pairs for one setting."""
    spec = RunSpec.resolve(setting, "erm", 0, "paper")
    data = load_run_data(spec, prepared_dir)
    tr = data.train.to_torch()
    B = spec.hparams.batch_size
    x, y, group = tr.X[:B], tr.y[:B], tr.group[:B]
    out: list[tuple[str, float]] = [("n_cells", float(2 * data.n_groups))]
    for name in ("erm", "ltr", "nbs_ltr"):
        trainer = _trainer(spec, data, name)
        out.append((name, _median_ms(lambda: trainer.step(x, y, group, epoch=1), repeats, warmup)))
    trainer = _trainer(spec, data, "nbs_ltr")
    G = trainer.hyper_fn(trainer.params, None, x, y, trainer.val, trainer.opt, NO_DROPOUT, NO_DROPOUT).G
    gramian = G.double() @ G.double().T
    solver = NashBargaining()
    out.append(("nbs_solve", _median_ms(lambda: solver(gramian), max(repeats * 10, 1000), warmup)))
    reference = _trainer(spec, data, "nbs_ltr", backend="autograd", aggregator=ReferenceNashBargaining())
    out.append(("reference_nbs_ltr", _median_ms(lambda: reference.step(x, y, group, epoch=1),
                                                reference_repeats, 1)))
    alpha_ref, ok = solve_nbs_reference()(gramian)
    ours = solver(gramian)
    out.append(("max_abs_alpha_difference_vs_reference", float(np.max(np.abs(ours.alpha.numpy() - alpha_ref)))
                if ok and ours.success else float("nan")))
    return out


def step_breakdown(setting: str, *, prepared_dir: str | None, repeats: int, warmup: int) -> list[tuple[str, float]]:
    """(part, ms) of the ERM and NBS+LtR steps, each part timed alone on the same batch: where a
    step's time goes, and so how far below an ERM step a meta step can get."""
    from fairbench.models import backprop
    from fairbench.method.meta import hypergradients
    from fairbench.models.functional_mlp import draw_dropout_masks
    from fairbench.models.optim import lookahead_base, sgd_step
    from fairbench.training.mlp_step import _val_cell_losses

    spec = RunSpec.resolve(setting, "nbs_ltr", 0, "paper")
    data = load_run_data(spec, prepared_dir)
    tr = data.train.to_torch()
    hp = spec.hparams
    x, y = tr.X[:hp.batch_size], tr.y[:hp.batch_size]
    trainer = _trainer(spec, data, "nbs_ltr")
    trainer.step(x, y, tr.group[:hp.batch_size], epoch=1)  # a momentum buffer, as in training
    params, val, g = trainer.params, trainer.val, torch.Generator().manual_seed(0)
    masks = draw_dropout_masks(hp.batch_size, hp.dropout, g)
    val_masks = draw_dropout_masks(val.x.shape[0], hp.dropout, g)
    fp = backprop.forward(params, x, y, masks)
    weights = torch.full((hp.batch_size,), hp.batch_size ** -0.5)
    grads = backprop.weighted_gradients(params, fp, weights)
    hyper = hypergradients(params, trainer.buf, x, y, val, trainer.opt, masks, val_masks)
    gramian = hyper.G.double() @ hyper.G.double().T
    parts: list[tuple[str, Callable[[], object]]] = [
        ("dropout masks (one draw)", lambda: draw_dropout_masks(hp.batch_size, hp.dropout, g)),
        ("forward", lambda: backprop.forward(params, x, y, masks)),
        ("forward, first layer reused", lambda: backprop.forward(params, x, y, masks, z1=hyper.train_first_layer)),
        ("backward", lambda: backprop.weighted_gradients(params, fp, weights)),
        ("SGD update", lambda: sgd_step(params, grads, trainer.buf, trainer.opt)),
        ("Pareto check (validation pass)", lambda: _val_cell_losses(params, val)),
        ("look-ahead point", lambda: lookahead_base(params, trainer.buf, trainer.opt)),
        ("hypergradients (incl. look-ahead)",
         lambda: hypergradients(params, trainer.buf, x, y, val, trainer.opt, masks, val_masks)),
        ("NBS solve", lambda: NashBargaining()(gramian)),
    ]
    return [(label, _median_ms(fn, repeats, warmup)) for label, fn in parts]


#: Shape of the synthetic batches of the K-scaling table (adult's batch size; about adult's width).
SCALING_BATCH, SCALING_FEATURES, SCALING_VAL_PER_CELL = 512, 100, 3


def cell_scaling(cells: list[int], *, repeats: int, warmup: int) -> list[tuple[int, float, float, float]]:
    """(K, hypergradients ms, NBS+LtR stage-1 step ms, NBS solve ms) on synthetic data with K / 2 groups."""
    from fairbench.evaluation.protocols import get_protocol
    from fairbench.hparams import HyperParams
    from fairbench.models.functional_mlp import draw_dropout_masks

    protocol = get_protocol("standard")
    hp = HyperParams(lr=1e-3, dropout=0.2, batch_size=SCALING_BATCH, epochs=50, bargain_epochs=15,
                     val_per_cell=SCALING_VAL_PER_CELL)
    rows = []
    for K in cells:
        if K < 2 or K % 2:
            raise ValueError(f"--cells takes even numbers >= 2 (two labels per group), got {K}")
        n_groups = K // 2
        gen = torch.Generator().manual_seed(K)
        x = torch.randn(SCALING_BATCH, SCALING_FEATURES, generator=gen)
        group = torch.arange(SCALING_BATCH) % n_groups
        y = (x[:, 0] + 0.1 * group > 0).long()
        n_val = SCALING_VAL_PER_CELL * K
        val_cell = torch.arange(n_val) % K
        val = ValidationSet.build(torch.randn(n_val, SCALING_FEATURES, generator=gen), val_cell % 2,
                                  val_cell // 2, n_groups)
        method = build_method("nbs_ltr", hp, protocol, val)
        trainer = MLPStep(method, hp, val, initial_params(SCALING_FEATURES, 0, protocol),
                          dropout_generator=torch.Generator().manual_seed(0), label=("synthetic", 0))
        trainer.step(x, y, group, epoch=1)  # a momentum buffer, as in training
        masks = draw_dropout_masks(SCALING_BATCH, hp.dropout, gen)
        val_masks = draw_dropout_masks(n_val, hp.dropout, gen)

        def hyper() -> object:
            return trainer.hyper_fn(trainer.params, trainer.buf, x, y, val, trainer.opt, masks, val_masks)

        G = hyper().G  # type: ignore[attr-defined]
        gramian = G.double() @ G.double().T
        solver = NashBargaining()
        rows.append((K, _median_ms(hyper, repeats, warmup),
                     _median_ms(lambda: trainer.step(x, y, group, epoch=1), repeats, warmup),
                     _median_ms(lambda: solver(gramian), max(repeats * 10, 100), warmup)))
    return rows


def scaling_report(rows: list[tuple[int, float, float, float]]) -> str:
    """The K-scaling table, with each time as a ratio to K = the first row's."""
    first = rows[0]
    lines = [f"scaling with the number of cells K (synthetic, B = {SCALING_BATCH}, {SCALING_FEATURES} features, "
             f"{SCALING_VAL_PER_CELL} validation rows per cell; x = ratio to K = {first[0]})",
             f"{'K':>3} {'hypergradients ms':>18} {'x':>6} {'NBS+LtR step ms':>16} {'x':>6} {'NBS solve ms':>13} {'x':>6}"]
    for K, hyper, step, solve in rows:
        lines.append(f"{K:>3} {hyper:>18.3f} {hyper / first[1]:>6.2f} {step:>16.3f} {step / first[2]:>6.2f} "
                     f"{solve:>13.4f} {solve / first[3]:>6.2f}")
    return "\n".join(lines)


def report(results: dict[str, list[tuple[str, float]]]) -> str:
    """Human-readable table of the measurements with ratios to ERM."""
    lines = [f"{'setting':<12} {'K':>3} {'step':<20} {'ms/step':>9} {'x ERM':>7}"]
    for setting, rows in results.items():
        values = dict(rows)
        erm = values["erm"]
        K = int(values["n_cells"])
        for label in ("erm", "ltr", "nbs_ltr", "reference_nbs_ltr"):
            lines.append(f"{setting:<12} {K:>3} {label:<20} {values[label]:>9.3f} {values[label] / erm:>7.2f}")
        lines.append(f"{setting:<12} {K:>3} {'nbs_solve':<20} {values['nbs_solve']:>9.4f}")
        lines.append(f"{setting:<12} {K:>3} NBS step is {values['reference_nbs_ltr'] / values['nbs_ltr']:.1f}x faster "
                     f"than the reference step; |alpha - alpha_ref|max = "
                     f"{values['max_abs_alpha_difference_vs_reference']:.2e} (reference tolerance 1e-3)")
    return "\n".join(lines)


def run(args: argparse.Namespace, cells: list[int]) -> int:
    """Run ``fairbench bench`` with the arguments :mod:`fairbench.perf.bench_cli` parsed and checked
    (``cells``: the numbers of cells of the scaling table)."""
    torch.set_num_threads(args.threads)
    if args.population is not None:
        from fairbench.perf import population

        seeds = list(range(args.seeds))
        timings = population.measure(args.population, args.method, seeds, protocol=args.protocol,
                                     epochs=args.epochs, prepared_dir=args.prepared)
        print(population.report(args.population, args.method, args.protocol, args.epochs, timings))
        return 0
    if args.device is not None:
        return _run_device(args)
    results = {s: bench_setting(s, prepared_dir=args.prepared, repeats=args.repeats, warmup=args.warmup,
                                reference_repeats=args.reference_repeats)
               for s in args.settings.split(",")}
    print(report(results))
    if cells:
        print()
        print(scaling_report(cell_scaling(cells, repeats=args.repeats, warmup=args.warmup)))
    if args.breakdown:
        for setting in args.settings.split(","):
            print(f"\n{setting}: parts of a step, each timed alone (ms)")
            for label, ms in step_breakdown(setting, prepared_dir=args.prepared, repeats=args.repeats,
                                            warmup=args.warmup):
                print(f"  {label:<36} {ms:>7.3f}")
    if torch.cuda.is_available():  # where a GPU exists, its step times too
        print()
        args.device = "cuda"
        return _run_device(args)
    return 0


def _run_device(args: argparse.Namespace) -> int:
    """``--device``: the CPU and the device side by side (the CPU alone for ``--device cpu``)."""
    from fairbench.perf import bench_device
    from fairbench.training.device import configure, resolve_device

    device = resolve_device(args.device)
    configure(device)
    devices = [torch.device("cpu")] + ([device] if device.type != "cpu" else [])
    rows = [row for s in args.settings.split(",")
            for row in bench_device.step_times(s, devices, prepared_dir=args.prepared, model=args.model,
                                               repeats=args.repeats, warmup=args.warmup)]
    print(bench_device.report(rows, devices))
    return 0
