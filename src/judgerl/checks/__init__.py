"""Deterministic, program-checkable criteria (ground truth for judge validation and training monitors)."""
