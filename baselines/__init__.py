"""Comparators of the NBS meta-learner, one file each (objectives, aggregators, non-meta baselines)."""
