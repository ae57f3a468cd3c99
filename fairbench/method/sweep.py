"""The rule that picks one point of a regulariser's lambda sweep for the tables (docs/method.md §6).

Each sweep point (one value of ``fair_lambda``) is trained with every seed. The tables report the point
with the highest mean **validation** worst-group AUC over the seeds; ties go to the smaller lambda (the
point closer to ERM). Test data never enters the choice: the function receives validation numbers only.

Worst-group AUC rewards accuracy and fairness together: a lambda so large that the model degenerates to
a constant score has worst-group AUC 0.5 (chance in every group) and loses to any model that is better
than chance in every group, so it cannot be chosen as "fairest" on a zero gap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def choose_sweep_point(val_worst_group_auc: Mapping[float, Sequence[float]]) -> float:
    """The chosen lambda, given each sweep point's per-seed validation worst-group AUC.

    Raises ``ValueError`` for an empty sweep, a point without seeds, a negative or non-finite lambda, or
    a value outside [0, 1].
    """
    if not val_worst_group_auc:
        raise ValueError("the lambda sweep is empty; train at least one fair_lambda value")
    means: dict[float, float] = {}
    for lam, values in val_worst_group_auc.items():
        if not math.isfinite(lam) or lam < 0:
            raise ValueError(f"sweep point lambda={lam!r} is not a finite number >= 0")
        if len(values) == 0:
            raise ValueError(f"sweep point lambda={lam} has no runs; train its seeds first")
        bad = [v for v in values if not (math.isfinite(v) and 0.0 <= v <= 1.0)]
        if bad:
            raise ValueError(f"sweep point lambda={lam} has validation worst-group AUC outside [0, 1]: {bad}")
        means[lam] = math.fsum(values) / len(values)
    return min(means, key=lambda lam: (-means[lam], lam))
