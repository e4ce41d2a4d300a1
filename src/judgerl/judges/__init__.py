"""The judging core: rubric and pairwise judges, prompts, parsing, thresholds, cache, budget, defences, spec."""
