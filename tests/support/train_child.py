"""Runs `judgerl train` in a child process with a scripted judge (registered as backend 'scripted'), for the
kill -9 / --resume test. Usage: python tests/support/train_child.py CONFIG [--resume]."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: the support package and the test modules
sys.path.insert(0, str(Path(__file__).parents[2] / "src"))

from judgerl.backends import register_backend
from support.fakes import ScriptedBackend, response_of


def scripted_judge(model: str = "scripted", delay_s: float = 0.0, **_: object) -> ScriptedBackend:
    def probs(prompt: object, labels: object) -> dict[str, float]:
        time.sleep(delay_s)
        p = 0.9 if "yes" in response_of(prompt) else 0.2  # type: ignore[arg-type]
        return {"PASS": p, "FAIL": 1 - p}

    return ScriptedBackend(probs=probs, model_id=model)


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    register_backend("scripted", scripted_judge)
    from judgerl.cli.main import main

    sys.argv = ["judgerl", "train", *sys.argv[1:]]
    main()
