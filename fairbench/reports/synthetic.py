"""The paper's synthetic two-group illustration (docs/method.md §7): gradient aggregators on a 2-D toy.

Two conflicting convex losses of a parameter ``theta`` in R^2, shifted and rotated quadratic bowls of
different scale, ``L_k(theta) = 0.5 (theta - a_k)^T A_k (theta - a_k)``. Their Pareto set is the
curve ``theta(w) = (w A_1 + (1 - w) A_2)^{-1} (w A_1 a_1 + (1 - w) A_2 a_2)``, w in [0, 1].
At each step the 2 x 2 matrix G of the two gradients is aggregated by a weighting of its Gramian
(:func:`fairbench.method.aggregation.get_aggregator`: NBS, MGDA, PCGrad, CAGrad, mean) into
``d = alpha^T G`` and ``theta <- theta - lr d``. The NBS direction does not shrink with the
gradients (it is invariant to their scale), so every method's step length is capped by a cap that
decays geometrically; a step whose aggregator reports failure (no bargaining solution: the point is
Pareto-stationary to first order) is skipped. A last panel compares continuous bargaining with the
two-stage schedule (NBS for the first steps, then the mean objective).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from fairbench.method.aggregation import get_aggregator  # noqa: E402
from fairbench.reports.figures import save_figure  # noqa: E402

__all__ = ["AGGREGATOR_PANELS", "ToyProblem", "distance_to_pareto", "run_trajectories", "synthetic_figure"]

#: Aggregators shown, one panel each (name -> display name).
AGGREGATOR_PANELS: dict[str, str] = {"nbs": "NBS (Nash bargaining)", "mgda": "MGDA", "pcgrad": "PCGrad",
                                     "cagrad": "CAGrad", "mean": "Mean (plain average)"}
_COLOURS = {"nbs": "#d62728", "mgda": "#1f77b4", "pcgrad": "#9467bd", "cagrad": "#2ca02c", "mean": "#7f7f7f"}


def _rotation(degrees: float) -> np.ndarray:
    r = np.deg2rad(degrees)
    return np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])


def _bowl(eig: tuple[float, float], angle: float, scale: float) -> np.ndarray:
    R = _rotation(angle)
    return scale * R @ np.diag(eig) @ R.T


@dataclass(frozen=True)
class ToyProblem:
    """Two quadratic group losses with a curved Pareto set (see module docstring)."""

    a: np.ndarray = field(default_factory=lambda: np.array([[-2.0, -1.0], [2.0, 1.0]]))
    A: np.ndarray = field(default_factory=lambda: np.stack([_bowl((1.0, 0.15), 60.0, 1.0),
                                                            _bowl((1.0, 0.15), -45.0, 0.35)]))

    def losses(self, theta: np.ndarray) -> np.ndarray:
        """(..., 2) losses at points ``theta`` of shape (..., 2)."""
        diff = theta[..., None, :] - self.a  # (..., 2 tasks, 2 dims)
        return 0.5 * np.einsum("...ki,kij,...kj->...k", diff, self.A, diff)

    def gradients(self, theta: np.ndarray) -> np.ndarray:
        """The 2 x 2 matrix G (row k = grad L_k) at one point ``theta``."""
        return np.einsum("kij,kj->ki", self.A, theta[None, :] - self.a)

    def pareto_set(self, n: int = 801) -> np.ndarray:
        """(n, 2) points of the Pareto set, from task 2's minimiser (w=0) to task 1's (w=1)."""
        points = []
        for w in np.linspace(0.0, 1.0, n):
            M = w * self.A[0] + (1 - w) * self.A[1]
            points.append(np.linalg.solve(M, w * self.A[0] @ self.a[0] + (1 - w) * self.A[1] @ self.a[1]))
        return np.array(points)


def distance_to_pareto(points: np.ndarray, pareto: np.ndarray) -> np.ndarray:
    """Euclidean distance of each point (..., 2) to the polyline ``pareto`` (segment-wise exact)."""
    p = np.asarray(points, float)[..., None, :]
    a, b = pareto[:-1], pareto[1:]
    ab = b - a
    t = np.clip(np.sum((p - a) * ab, axis=-1) / np.maximum(np.sum(ab * ab, axis=-1), 1e-300), 0.0, 1.0)
    nearest = a + t[..., None] * ab
    return np.sqrt(np.sum((p - nearest) ** 2, axis=-1)).min(axis=-1)


def starting_points(n: int = 10, radius: float = 3.6) -> np.ndarray:
    """``n`` points evenly on a circle around the origin."""
    angles = np.linspace(0.0, 2 * np.pi, n, endpoint=False) + np.pi / n
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def run_trajectories(problem: ToyProblem, starts: np.ndarray, aggregator: str, *, steps: int = 120,
                     lr: float = 0.5, max_step: float = 0.25, decay: float = 0.97,
                     switch_to: str | None = None, switch_after: int | None = None) -> np.ndarray:
    """(n_starts, steps + 1, 2) iterates of ``theta <- theta - lr d``, the step capped at
    ``max_step * decay**t``; with ``switch_to``, the aggregator becomes ``switch_to`` after
    ``switch_after`` steps (two-stage bargaining)."""
    first = get_aggregator(aggregator)
    second = get_aggregator(switch_to) if switch_to is not None else first
    out = np.empty((len(starts), steps + 1, 2))
    for i, start in enumerate(starts):
        theta = np.array(start, dtype=float)
        out[i, 0] = theta
        generator = torch.Generator().manual_seed(i)
        for t in range(steps):
            weighting = second if switch_after is not None and t >= switch_after else first
            G = torch.as_tensor(problem.gradients(theta), dtype=torch.float64)
            result = weighting(G @ G.T, generator=generator)
            if result.success:
                step = lr * (result.alpha @ G).numpy()
                cap = max_step * decay**t
                norm = float(np.linalg.norm(step))
                theta = theta - (step * (cap / norm) if norm > cap else step)
            out[i, t + 1] = theta
    return out


def _background(ax: plt.Axes, problem: ToyProblem, pareto: np.ndarray, lim: float) -> None:
    grid = np.linspace(-lim, lim, 161)
    X, Y = np.meshgrid(grid, grid)
    L = problem.losses(np.stack([X, Y], axis=-1))
    quantiles = [0.01, 0.04, 0.1, 0.2, 0.35, 0.55, 0.8]
    for k, colour in enumerate(("#1f77b4", "#ff7f0e")):
        ax.contour(X, Y, L[..., k], levels=np.quantile(L[..., k], quantiles), colors=colour, linewidths=0.6,
                   alpha=0.5)
    ax.contour(X, Y, L[..., 0] - L[..., 1], levels=[0.0], colors="black", linestyles=":", linewidths=1.0)
    ax.plot(pareto[:, 0], pareto[:, 1], color="black", linewidth=2.6, solid_capstyle="round", zorder=2)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel=r"$\theta_1$", ylabel=r"$\theta_2$")


def _paths(ax: plt.Axes, traj: np.ndarray, colour: str, linestyle: str = "-") -> None:
    for path in traj:
        ax.plot(path[:, 0], path[:, 1], color=colour, linewidth=1.3, linestyle=linestyle, zorder=3)
        ax.plot(*path[0], marker="o", color=colour, markersize=4, zorder=4)
        ax.plot(*path[-1], marker="*", color=colour, markeredgecolor="black", markeredgewidth=0.4,
                markersize=9, zorder=5)


def synthetic_figure(out_dir: str | Path, *, n_starts: int = 10, steps: int = 120,
                     switch_after: int = 15) -> tuple[list[Path], dict[str, np.ndarray]]:
    """Draw the toy trajectories (one panel per aggregator + continuous vs two-stage) as
    ``out_dir/synthetic_trajectories.{png,pdf}``; returns the paths and the trajectories."""
    for name, value, minimum in (("starts", n_starts, 1), ("steps", steps, 1), ("switch-after", switch_after, 0)):
        if value < minimum:
            raise ValueError(f"--{name} must be at least {minimum} (got {value})")
    problem = ToyProblem()
    starts = starting_points(n_starts)
    pareto = problem.pareto_set()
    trajectories = {name: run_trajectories(problem, starts, name, steps=steps) for name in AGGREGATOR_PANELS}
    trajectories["two_stage"] = run_trajectories(problem, starts, "nbs", steps=steps, switch_to="mean",
                                                 switch_after=switch_after)
    lim = 4.2
    fig, axes = plt.subplots(2, 3, figsize=(13.5, 9.2))
    for ax, (name, title) in zip(axes.flat, AGGREGATOR_PANELS.items()):
        _background(ax, problem, pareto, lim)
        _paths(ax, trajectories[name], _COLOURS[name])
        ax.set_title(title)
    ax = axes.flat[5]
    _background(ax, problem, pareto, lim)
    _paths(ax, trajectories["nbs"], _COLOURS["nbs"])
    _paths(ax, trajectories["two_stage"], "#17becf", linestyle="--")
    switch = trajectories["two_stage"][:, switch_after]
    ax.plot(switch[:, 0], switch[:, 1], linestyle="", marker="x", color="#0b5563", markersize=6, zorder=5)
    ax.set_title("Continuous vs two-stage bargaining")
    handles = [
        plt.Line2D([], [], color="black", linewidth=2.6, label="Pareto set"),
        plt.Line2D([], [], color="black", linestyle=":", label=r"equal loss $L_1 = L_2$"),
        plt.Line2D([], [], color="#1f77b4", linewidth=0.8, label=r"contours of $L_1$"),
        plt.Line2D([], [], color="#ff7f0e", linewidth=0.8, label=r"contours of $L_2$"),
        plt.Line2D([], [], color="grey", marker="o", linestyle="", label="start"),
        plt.Line2D([], [], color="grey", marker="*", markersize=9, linestyle="", label="end"),
        plt.Line2D([], [], color=_COLOURS["nbs"], label="continuous NBS"),
        plt.Line2D([], [], color="#17becf", linestyle="--",
                   label=f"two-stage: NBS for {switch_after} steps, then mean"),
        plt.Line2D([], [], color="#0b5563", marker="x", linestyle="", label="switch to stage 2"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=5, frameon=False, fontsize=9)
    fig.suptitle("Two conflicting group losses: trajectories of gradient aggregators from "
                 f"{n_starts} starting points", fontsize=13)
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    paths = save_figure(fig, Path(out_dir) / "synthetic_trajectories")
    return paths, trajectories
