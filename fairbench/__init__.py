"""fairbench: a reproducible benchmark for fairness-aware meta-learning via Nash bargaining.

Zeng et al., "Fairness-Aware Meta-Learning via Nash Bargaining", NeurIPS 2024 (arXiv:2406.07029).
"""

__version__ = "0.1.0"
