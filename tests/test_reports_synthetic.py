"""The synthetic two-group aggregator figure (fairbench.reports.synthetic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fairbench.reports.synthetic import (ToyProblem, distance_to_pareto, run_trajectories, starting_points,
                                         synthetic_figure)
from tests.test_reports_figures import assert_real_image


def test_the_toy_losses_conflict_and_the_pareto_set_joins_the_minimisers() -> None:
    problem = ToyProblem()
    pareto = problem.pareto_set()
    assert np.allclose(pareto[0], problem.a[1]) and np.allclose(pareto[-1], problem.a[0])
    for theta in pareto[1:-1:50]:  # on the Pareto set the two gradients point in opposite directions
        g = problem.gradients(theta)
        cos = g[0] @ g[1] / np.linalg.norm(g[0]) / np.linalg.norm(g[1])
        assert cos == pytest.approx(-1.0, abs=1e-6)
    theta = np.array([0.3, -2.0])  # gradients match finite differences
    eps = 1e-6
    numeric = np.stack([(problem.losses(theta + eps * e) - problem.losses(theta - eps * e)) / (2 * eps)
                        for e in np.eye(2)], axis=1)
    assert np.allclose(numeric, problem.gradients(theta), atol=1e-6)


def test_distance_to_pareto_is_exact_on_a_segment() -> None:
    segment = np.array([[0.0, 0.0], [1.0, 0.0]])
    points = np.array([[0.5, 2.0], [3.0, 4.0], [-1.0, 0.0]])
    assert distance_to_pareto(points, segment) == pytest.approx([2.0, np.hypot(2, 4), 1.0])


def test_nbs_trajectories_end_on_the_pareto_set_and_are_deterministic() -> None:
    problem = ToyProblem()
    starts = starting_points(8)
    pareto = problem.pareto_set()
    traj = run_trajectories(problem, starts, "nbs", steps=100)
    start_d, end_d = distance_to_pareto(traj[:, 0], pareto), distance_to_pareto(traj[:, -1], pareto)
    assert np.all(end_d < start_d) and np.all(end_d < 0.05)
    # NBS never makes a group worse along the way to first order: both losses fall at the first step
    first = problem.losses(traj[:, 1]) - problem.losses(traj[:, 0])
    assert np.all(first < 0)
    assert np.array_equal(traj, run_trajectories(problem, starts, "nbs", steps=100))


def test_mean_ends_at_the_minimiser_of_the_summed_loss() -> None:
    problem = ToyProblem()
    traj = run_trajectories(problem, starting_points(4), "mean", steps=120)
    target = np.linalg.solve(problem.A.sum(0), np.einsum("kij,kj->i", problem.A, problem.a))
    assert np.allclose(traj[:, -1], target, atol=1e-2)


def test_figure_is_written(tmp_path: Path) -> None:
    paths, traj = synthetic_figure(tmp_path, n_starts=6, steps=80)
    assert {p.suffix for p in paths} == {".png", ".pdf"}
    assert_real_image(next(p for p in paths if p.suffix == ".png"), min_kb=100)
    assert set(traj) == {"nbs", "mgda", "pcgrad", "cagrad", "mean", "two_stage"}
    assert all(t.shape == (6, 81, 2) for t in traj.values())
