"""Display names, orderings and colours shared by the tables and figures."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "HIGHER_IS_BETTER", "METRIC_LABELS", "PAPER_METHODS", "method_colour", "method_label", "method_order",
    "method_style", "metric_label", "setting_label", "setting_order",
]

#: The eight methods of the paper's main table (same order as :data:`fairbench.registry.PAPER_METHODS`).
PAPER_METHODS: tuple[str, ...] = ("erm", "dro", "ltr", "forml", "meta_gdro", "nbs_ltr", "nbs_forml",
                                  "nbs_meta_gdro")
OBJECTIVES: tuple[str, ...] = ("ltr", "forml", "meta_gdro")
AGGREGATORS: tuple[str, ...] = ("nbs", "mgda", "pcgrad", "cagrad", "imtl_g", "mean")
BASELINES: tuple[str, ...] = ("erm", "dro", "group_dro", "reweighing")

_OBJECTIVE_LABELS = {"ltr": "LtR", "forml": "FORML", "meta_gdro": "Meta-gDRO"}
_AGGREGATOR_LABELS = {"nbs": "NBS", "mgda": "MGDA", "pcgrad": "PCGrad", "cagrad": "CAGrad", "imtl_g": "IMTL-G",
                      "mean": "Mean"}
_BASELINE_LABELS = {"erm": "ERM", "dro": "DRO", "group_dro": "Group DRO", "reweighing": "Reweighing"}

METRIC_LABELS: dict[str, str] = {
    "auc": "Overall AUC", "score_auc": "Score AUC", "group_auc_gap": "Max-gAUCD", "worst_group_auc": "Worst-gAUC",
    "tpr_gap": "TPRD", "alignment_rate": "Bargaining success (alignment rate)",
    "nbs_solvable_rate": "NBS solvable rate",
}
#: Direction of "better" for bolding and Pareto fronts.
HIGHER_IS_BETTER: dict[str, bool] = {"auc": True, "score_auc": True, "worst_group_auc": True,
                                     "worst_group_score_auc": True, "group_auc_gap": False, "tpr_gap": False,
                                     "group_score_auc_gap": False}

# One colour per objective / baseline (tab10); aggregators share their objective's colour, and the
# line style tells the aggregator (solid = one-stage, dashed = NBS two-stage).
_COLOURS = {"ltr": "#1f77b4", "forml": "#ff7f0e", "meta_gdro": "#2ca02c", "erm": "#7f7f7f", "dro": "#9467bd",
            "group_dro": "#8c564b", "reweighing": "#e377c2"}
_LINESTYLES = {None: "-", "nbs": "--", "mgda": ":", "pcgrad": "-.", "cagrad": (0, (5, 1, 1, 1, 1, 1)),
               "imtl_g": (0, (1, 1)), "mean": (0, (8, 2))}
_MARKERS = {None: "o", "nbs": "s", "mgda": "^", "pcgrad": "v", "cagrad": "D", "imtl_g": "P", "mean": "X"}


def split_method(method: str) -> tuple[str | None, str]:
    """``"nbs_meta_gdro"`` -> ("nbs", "meta_gdro"); ``"ltr"`` -> (None, "ltr"); baselines -> (None, name)."""
    for agg in sorted(AGGREGATORS, key=len, reverse=True):
        if method.startswith(agg + "_") and method[len(agg) + 1:] in OBJECTIVES:
            return agg, method[len(agg) + 1:]
    return None, method


def method_label(method: str) -> str:
    """Display name: ``nbs_ltr`` -> ``NBS+LtR``; unknown names are returned unchanged."""
    agg, base = split_method(method)
    name = _OBJECTIVE_LABELS.get(base) or _BASELINE_LABELS.get(base) or base
    return f"{_AGGREGATOR_LABELS[agg]}+{name}" if agg else name


def method_order(methods: Iterable[str]) -> list[str]:
    """Paper methods first (paper order), then other baselines, then aggregator x objective combos."""
    def key(m: str) -> tuple[int, int, int, str]:
        if m in PAPER_METHODS:
            return (0, PAPER_METHODS.index(m), 0, m)
        if m in BASELINES:
            return (1, BASELINES.index(m), 0, m)
        agg, base = split_method(m)
        if agg is not None:
            return (2, OBJECTIVES.index(base), AGGREGATORS.index(agg), m)
        return (3, 0, 0, m)
    return sorted(set(methods), key=key)


def method_colour(method: str) -> str:
    return _COLOURS.get(split_method(method)[1], "#17becf")


def method_style(method: str) -> dict[str, object]:
    """Matplotlib keyword arguments (color, linestyle, marker, label) for ``method``, the same everywhere."""
    agg = split_method(method)[0]
    return {"color": method_colour(method), "linestyle": _LINESTYLES.get(agg, "-"),
            "marker": _MARKERS.get(agg, "o"), "label": method_label(method)}


def __getattr__(name: str) -> tuple[str, ...]:
    """``SETTINGS``: every registered setting in registry order (:mod:`fairbench.data.registry`)."""
    if name == "SETTINGS":
        from fairbench.data.registry import list_settings

        return tuple(list_settings())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def setting_label(setting: str) -> str:
    """The registry's display name (``adult-sex`` -> ``Adult (sex)``, a spec's ``display_name``).

    A setting the registry does not know (runs of a spec that is not loaded) keeps its name,
    ``dataset (attribute)`` style.
    """
    from fairbench.data.errors import UnknownSettingError
    from fairbench.data.registry import display_name

    try:
        return display_name(setting)
    except UnknownSettingError:
        dataset, _, attribute = setting.partition("-")
        return f"{dataset} ({attribute})" if attribute else dataset


def setting_order(settings: Iterable[str]) -> list[str]:
    """Registry order (the paper's seven, then the declared settings), then unknown names alphabetically."""
    from fairbench.data.registry import list_settings

    known = list_settings()
    return sorted(set(settings), key=lambda s: (known.index(s) if s in known else len(known), s))


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)
