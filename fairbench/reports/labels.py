"""Display names, orderings and colours shared by the tables and figures."""

from __future__ import annotations

import functools
from collections.abc import Iterable

__all__ = [
    "HIGHER_IS_BETTER", "METRIC_LABELS", "PAPER_METHODS", "main_methods", "method_colour", "method_families",
    "method_label", "method_order", "method_style", "metric_label", "setting_label", "setting_order", "split_method",
]

# Method names, families and order come from the registry (fairbench/registry.py and the aggregators of
# fairbench/method/aggregation.py), read on first use: a method registered there appears in every table and
# figure with its own label, colour and marker. The names below only give the built-in methods their
# customary display names and colours; a new one takes its class's ``label`` attribute when it has one
# (else its name), the next free colour and, for a new aggregator, the next free marker.
_DISPLAY_NAMES = {"ltr": "LtR", "forml": "FORML", "meta_gdro": "Meta-gDRO", "nbs": "NBS", "mgda": "MGDA",
                  "pcgrad": "PCGrad", "cagrad": "CAGrad", "imtl_g": "IMTL-G", "mean": "Mean", "erm": "ERM",
                  "dro": "DRO", "group_dro": "Group DRO", "reweighing": "Reweighing"}
_METHOD_NAMES = ("PAPER_METHODS", "OBJECTIVES", "AGGREGATORS", "BASELINES")

METRIC_LABELS: dict[str, str] = {
    "auc": "Overall AUC", "score_auc": "Score AUC", "group_auc_gap": "Max-gAUCD", "worst_group_auc": "Worst-gAUC",
    "tpr_gap": "TPRD", "alignment_rate": "Bargaining success (alignment rate)",
    "nbs_solvable_rate": "NBS solvable rate",
}
#: Direction of "better" for bolding and Pareto fronts.
HIGHER_IS_BETTER: dict[str, bool] = {"auc": True, "score_auc": True, "worst_group_auc": True,
                                     "worst_group_score_auc": True, "group_auc_gap": False, "tpr_gap": False,
                                     "group_score_auc_gap": False}

# One colour per objective / baseline (tab10, then tab20's light shades for registered additions);
# aggregators share their objective's colour, and the line style and marker tell the aggregator
# (solid, circle = one-stage; dashed, square = NBS two-stage).
_COLOURS = {"ltr": "#1f77b4", "forml": "#ff7f0e", "meta_gdro": "#2ca02c", "erm": "#7f7f7f", "dro": "#9467bd",
            "group_dro": "#8c564b", "reweighing": "#e377c2"}
_SPARE_COLOURS = ("#17becf", "#bcbd22", "#d62728", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
                  "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")
_LINESTYLES = {None: "-", "nbs": "--", "mgda": ":", "pcgrad": "-.", "cagrad": (0, (5, 1, 1, 1, 1, 1)),
               "imtl_g": (0, (1, 1)), "mean": (0, (8, 2))}
_SPARE_LINESTYLES = ((0, (3, 1, 1, 1)), (0, (3, 3)), (0, (1, 3)), (0, (6, 1, 1, 1, 1, 1, 1, 1)))
_MARKERS = {None: "o", "nbs": "s", "mgda": "^", "pcgrad": "v", "cagrad": "D", "imtl_g": "P", "mean": "X"}
_SPARE_MARKERS = ("*", "h", "p", "<", ">", "d", "H", "8")


@functools.cache
def method_families() -> dict[str, tuple[str, ...]]:
    """``PAPER_METHODS``, ``OBJECTIVES``, ``AGGREGATORS`` and ``BASELINES`` in registry order."""
    from fairbench import registry
    from fairbench.method.aggregation import AGGREGATORS as aggregators

    return {"PAPER_METHODS": tuple(registry.PAPER_METHODS), "OBJECTIVES": tuple(registry.OBJECTIVES),
            "AGGREGATORS": tuple(aggregators), "BASELINES": tuple(registry.BASELINES)}


def __getattr__(name: str) -> tuple[str, ...]:
    """``SETTINGS``: every registered setting in registry order (:mod:`fairbench.data.registry`);
    ``PAPER_METHODS``, ``OBJECTIVES``, ``AGGREGATORS``, ``BASELINES``: see :func:`method_families`."""
    if name in _METHOD_NAMES:
        return method_families()[name]
    if name == "SETTINGS":
        from fairbench.data.registry import list_settings

        return tuple(list_settings())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _registered_class(name: str) -> object | None:
    from fairbench import registry
    from fairbench.method.aggregation import AGGREGATORS as aggregators

    return registry.OBJECTIVES.get(name) or aggregators.get(name)


def _display(name: str) -> str:
    if name in _DISPLAY_NAMES:
        return _DISPLAY_NAMES[name]
    label = getattr(_registered_class(name), "label", None)
    return label if isinstance(label, str) and label else name


def split_method(method: str) -> tuple[str | None, str]:
    """``"nbs_meta_gdro"`` -> ("nbs", "meta_gdro"); ``"ltr"`` -> (None, "ltr"); baselines -> (None, name)."""
    families = method_families()
    for agg in sorted(families["AGGREGATORS"], key=len, reverse=True):
        if method.startswith(agg + "_") and method[len(agg) + 1:] in families["OBJECTIVES"]:
            return agg, method[len(agg) + 1:]
    return None, method


def method_label(method: str) -> str:
    """Display name: ``nbs_ltr`` -> ``NBS+LtR``; names the registry does not know are returned unchanged."""
    agg, base = split_method(method)
    families = method_families()
    known = base in families["OBJECTIVES"] or base in families["BASELINES"]
    name = _display(base) if known else base
    return f"{_display(agg)}+{name}" if agg else name


def method_order(methods: Iterable[str]) -> list[str]:
    """Paper methods first (paper order), then other baselines and one-stage objectives (registry order),
    then aggregator x objective combinations, then names the registry does not know."""
    families = method_families()
    paper, objectives, aggregators, baselines = (families[k] for k in _METHOD_NAMES)

    def key(m: str) -> tuple[int, int, int, str]:
        if m in paper:
            return (0, paper.index(m), 0, m)
        if m in baselines:
            return (1, baselines.index(m), 0, m)
        if m in objectives:
            return (1, len(baselines) + objectives.index(m), 0, m)
        agg, base = split_method(m)
        if agg is not None:
            return (2, objectives.index(base), aggregators.index(agg), m)
        return (3, 0, 0, m)
    return sorted(set(methods), key=key)


def _spare(table: dict, spares: tuple, family: tuple[str, ...], name: str):  # noqa: ANN202
    """The built-in value of ``name``, else the next spare value by the name's place among the additions."""
    if name in table:
        return table[name]
    extra = [n for n in family if n not in table]
    return spares[extra.index(name) % len(spares)] if name in extra else spares[-1]


def method_colour(method: str) -> str:
    """One colour per objective or baseline (an aggregator combination takes its objective's colour)."""
    families = method_families()
    return _spare(_COLOURS, _SPARE_COLOURS, families["BASELINES"] + families["OBJECTIVES"], split_method(method)[1])


def method_style(method: str) -> dict[str, object]:
    """Matplotlib keyword arguments (color, linestyle, marker, label) for ``method``, the same everywhere."""
    agg = split_method(method)[0]
    aggregators = method_families()["AGGREGATORS"]
    linestyle = "-" if agg is None else _spare(_LINESTYLES, _SPARE_LINESTYLES, aggregators, agg)
    marker = "o" if agg is None else _spare(_MARKERS, _SPARE_MARKERS, aggregators, agg)
    return {"color": method_colour(method), "linestyle": linestyle, "marker": marker, "label": method_label(method)}


def main_methods(methods_of_main: Iterable[str]) -> list[str]:
    """Methods of the main table and learning-curve figures: the paper's eight and every other method
    that the ``main`` experiment ran (a method added to it shows up there), in :func:`method_order`."""
    return method_order([*method_families()["PAPER_METHODS"], *methods_of_main])


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
