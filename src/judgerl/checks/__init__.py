"""Program checkers: pure functions that verify what a judge is asked to judge, where a program can.

- ``ifeval.check(instruction_id, kwargs, response)``: IFEval's verifiable instructions (strict variant).
- ``gsm8k.check(reference, response)``: the final number of a GSM8K solution.
- ``rules``: cheap deterministic reward checks configured in a training config (regex, length, JSON schema,
  language) that gate or add to the reward before the judge is called.
"""
