"""`fairbench bench --population`: job-seconds per run, one process per seed against one for all seeds."""

from __future__ import annotations

import json
from pathlib import Path

from fairbench.perf import population


def test_population_modes_run_the_real_commands_and_report_ratios(tmp_path, monkeypatch) -> None:
    calls: list[list[str]] = []

    def fake_train(args: list[str]) -> float:
        """A process that costs 3 s to start and 1 s per seed."""
        calls.append(args)
        out = args[args.index("--out") + 1]
        seeds = args[args.index("--seeds") + 1].split(",") if "--seeds" in args else [args[args.index("--seed") + 1]]
        for seed in seeds:
            folder = Path(out.replace("{seed}", seed))
            folder.mkdir(parents=True)
            (folder / "run.json").write_text(json.dumps({"wall_seconds": 1.0}))
        return 3.0 + len(seeds)

    monkeypatch.setattr(population, "_train", fake_train)
    timings = population.measure("titanic-sex", "erm", [0, 1, 2, 3], protocol="standard", epochs=2,
                                 prepared_dir=str(tmp_path))
    assert len(calls) == 5 and calls[-1][calls[-1].index("--seeds") + 1] == "0,1,2,3"
    a, b = timings
    assert (a.per_run, a.fixed_per_run) == (4.0, 3.0)
    assert (b.per_run, b.fixed_per_run) == (1.75, 0.75)
    text = population.report("titanic-sex", "erm", "standard", 2, timings)
    assert "(a) one process per seed" in text and "(b) one process for all seeds" in text
    assert text.splitlines()[3].split()[-1] == f"{4.0 / 1.75:.2f}"
