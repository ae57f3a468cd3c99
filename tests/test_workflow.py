"""The Snakemake pipeline end to end on the quick configuration (mirror data, wandb disabled)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import yaml

from fairbench.pipeline.chunks import DEFAULT_SEEDS_PER_JOB, plan_chunks
from fairbench.pipeline.config import check_config

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.mirror, pytest.mark.slow]


#: The quick configuration's seeds and epochs cut down for the test: the pipeline's mechanics, not its numbers.
TEST_SEEDS = (0, 1)
TEST_CONFIG = (f"seeds=[{','.join(map(str, TEST_SEEDS))}]", "overrides={epochs: 3}")


def _snakemake(results: Path, *args: str, env: dict[str, str], config: tuple[str, ...] = ()
               ) -> subprocess.CompletedProcess[str]:
    """snakemake on the quick configuration alone (``--replace-workflow-config``) into ``results``, with
    :data:`TEST_CONFIG`; ``config``: more KEY=VALUE entries, later ones winning (one --config flag: a second
    one would replace the first)."""
    command = [str(Path(sys.executable).parent / "snakemake"), "--cores", "2", "--nolock",
               "--configfile", "config/quick.yaml", "--replace-workflow-config", *args,
               "--config", f"results_dir={results}", *TEST_CONFIG, *config]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)


def _job_counts(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The 'Job stats' table of a dry run: rule -> count."""
    lines = (done.stdout + done.stderr).splitlines()
    return dict(line.split() for line in lines if len(line.split()) == 2 and line.split()[1].isdigit())


@pytest.fixture(scope="module")
def quick_run(mirror: Path, tmp_path_factory: pytest.TempPathFactory):
    results = tmp_path_factory.mktemp("workflow") / "results"
    env = dict(os.environ, FAIRBENCH_DATA_MIRROR=str(mirror), WANDB_MODE="disabled",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = _snakemake(results, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return results, env


def test_tables_hold_numbers_from_the_runs(quick_run) -> None:
    results, _ = quick_run
    table = pd.read_csv(results / "tables" / "main_standard.csv")
    assert len(table) == 2 * 8  # two settings x the paper's eight methods
    # Recompute one cell from the run files: standard protocol selects, per seed, the epoch with the
    # lowest validation meta loss; the table shows the mean over seeds.
    values = []
    for seed in TEST_SEEDS:
        frame = pd.read_csv(results / "runs" / "main" / "standard" / "titanic-sex" / "nbs_ltr" / "default"
                            / f"seed{seed}" / "metrics.csv")
        values.append(frame.loc[frame["val_meta_loss"].idxmin(), "auc"])
    row = table[(table.iloc[:, 0].astype(str).str.contains("itanic")) | (table.iloc[:, 1].astype(str) == "NBS+LtR")]
    text = (results / "tables" / "main_standard.md").read_text()
    assert f"{np.mean(values):.3f}" in text
    assert not row.empty


def test_figures_exist_and_are_not_blank(quick_run) -> None:
    results, _ = quick_run
    pngs = sorted((results / "figures").rglob("*.png"))
    names = {p.stem.split("_")[0] for p in pngs}
    assert {"curves", "alignment", "tradeoff", "ablation", "synthetic"} <= names
    for png in pngs:
        assert png.stat().st_size > 10_000, png
        image = mpimg.imread(png)
        assert float(np.std(image[..., :3])) > 0.01, png
        assert png.with_suffix(".pdf").exists()


def test_second_invocation_does_nothing(quick_run) -> None:
    results, env = quick_run
    again = _snakemake(results, "-n", env=env)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_deleting_one_run_reruns_only_that_run(quick_run) -> None:
    results, env = quick_run
    folder = results / "runs" / "main" / "paper" / "titanic-sex" / "dro" / "default" / "seed1"
    shutil.rmtree(folder)
    plan = _snakemake(results, "-n", "--quiet", "rules", env=env)
    assert plan.returncode == 0, plan.stderr
    counts = _job_counts(plan)
    assert counts.get("train") == "1", plan.stdout[-3000:] + plan.stderr[-3000:]
    assert set(counts) - {"total", "job"} == {"train", "aggregate_runs", "tables", "tables_html", "figures",
                                              "findings", "report_index", "log_report_to_wandb", "check_runs", "all"}
    rerun = _snakemake(results, env=env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert (folder / "metrics.csv").exists()


def test_more_seeds_train_only_the_new_runs(quick_run) -> None:
    results, env = quick_run
    more = f"seeds=[{','.join(map(str, (*TEST_SEEDS, max(TEST_SEEDS) + 1)))}]"
    plan = _snakemake(results, "-n", "--quiet", "rules", env=env, config=(more,))
    assert plan.returncode == 0, plan.stderr[-2000:]
    counts = _job_counts(plan)
    jobs = check_config(yaml.safe_load((ROOT / "config" / "quick.yaml").read_text()))
    assert int(counts["train"]) == len(jobs)  # one new run (the new seed) per configuration, nothing retrained
    assert f"to train now: {len(jobs):,} runs" in plan.stderr
    assert "estimated training time: about" in plan.stderr  # from the committed runs' timings


def test_output_is_legible(quick_run) -> None:
    results, env = quick_run
    plan = _snakemake(results, "-n", env=env, config=("seeds=[0,1,2,3]",))
    lines = (plan.stdout + plan.stderr).splitlines()
    assert max(len(line) for line in lines) < 400, max(lines, key=len)[:300]
    assert any(line.startswith("fairbench: ") and "runs" in line for line in lines)
    assert any("to train every run again into a fresh folder" in line for line in lines)


def test_bad_config_stops_before_any_job(tmp_path, quick_run) -> None:
    _, env = quick_run
    for override, key in (("seeds=[-1]", "seeds.0"), ("threads_per_job=0", "threads_per_job"),
                          ("overrides={lr: fast}", "overrides.lr"), ("overrides={epochs: 2.5}", "overrides.epochs")):
        done = _snakemake(tmp_path / "bad", env=env, config=(override,))
        assert done.returncode != 0
        assert f"config key '{key}'" in done.stdout + done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "bad").exists()


def test_lint_is_clean() -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--lint"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "good condition" in done.stdout + done.stderr, done.stdout[-2000:]


def test_default_grid_dry_run_lists_every_job(quick_run) -> None:
    _, env = quick_run
    done = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-n", "--cores", "all", "--quiet",
                           "rules", "--config", f"results_dir={shutil.os.devnull}-unused"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Using workflow specific profile profiles/default" in done.stdout + done.stderr
    counts = _job_counts(done)
    jobs = check_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    # one job per chunk of at most 10 seeds of a configuration, smaller where that fills --cores all
    chunks = plan_chunks([(job, job.seeds) for job in jobs], DEFAULT_SEEDS_PER_JOB,
                         len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    assert int(counts["train"]) == len(chunks) < sum(len(job.seeds) for job in jobs)


def test_html_report_is_self_contained(quick_run, tmp_path) -> None:
    results, env = quick_run
    report = tmp_path / "report.html"
    done = _snakemake(results, "--report", str(report), env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    text = report.read_text(errors="replace")
    assert report.stat().st_size > 100_000 and "main_paper" in text
    # the tables are HTML pages in the report (shown in the page), with the rows of the main table
    pages = {m.group(1): base64.b64decode(m.group(2)).decode() for m in
             re.finditer(r"data:text/html;charset=[^;]*;filename=([\w.-]+);base64,([A-Za-z0-9+/=]+)", text)}
    assert "main_standard.html" in pages, sorted(pages)
    main = pd.read_csv(results / "tables" / "main_standard.csv")
    assert pages["main_standard.html"].count("<tr><td>") == len(main)
    assert "NBS+LtR" in pages["main_standard.html"]
    # figures grouped by protocol and setting, each with a caption; one line about missing metadata at most
    assert "Figures, standard protocol" in text and "Learning curves of" in text
    assert (done.stdout + done.stderr).count("Missing metadata") == 0


def test_findings_page_is_built_from_the_runs(quick_run) -> None:
    results, _ = quick_run
    text = (results / "FINDINGS.md").read_text()
    assert text.startswith("# Findings") and "Verdict rule" in text
    assert len(pd.read_csv(results / "aggregate" / "findings.csv")) >= 6
