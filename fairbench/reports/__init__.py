"""Reports of the benchmark: collect run folders, select epochs, summarise and test over seeds, and
write tables and figures (docs/protocols.md, docs/method.md §7). The same functions back ``fairbench report``.

Typical use::

    frame = collect_runs("results/runs")           # one row per (run, epoch); failed runs listed apart
    write_collected(frame, "runs.parquet")         # ... and read_collected("runs.parquet")
    write_tables(frame, "results/tables")          # Markdown + LaTeX + CSV
    write_figures(frame, "results/figures")        # PNG + PDF
    synthetic_figure("results/figures")            # the 2-D aggregator illustration

Names are imported on first use, so that ``fairbench`` commands do not pay for matplotlib.
"""

from __future__ import annotations

import importlib

_EXPORTS: dict[str, str] = {
    "collect_runs": "collect", "failed_runs": "collect", "find_run_files": "collect",
    "read_collected": "collect", "write_collected": "collect",
    "SELECTION_RULES": "selection", "select_epochs": "selection",
    "NBS_PAIRS": "stats", "describe": "stats", "holm_bonferroni": "stats", "paired_test": "stats",
    "paired_tests": "stats", "summarise": "stats", "bootstrap_summary": "stats",
    "improvement_probabilities": "stats", "flag_degenerate": "degenerate", "load_selected_counts": "bootstrap",
    "build_findings": "findings", "write_findings": "findings",
    "alignment_table": "tables", "comparisons_table": "tables", "main_table": "tables",
    "paired_tests_table": "tables", "protocols_table": "tables", "write_tables": "tables",
    "ablation_figure": "figures", "alignment_figure": "figures", "curves_figure": "figures",
    "tradeoff_figure": "figures", "write_figures": "figures",
    "synthetic_figure": "synthetic",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:  # PEP 562
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return __all__
