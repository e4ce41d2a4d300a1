"""One process of ``accelerate launch`` running ``judgerl train``, recording every reward metric this process
logs (OUT/metrics-rank<i>.jsonl: step, name, value), so a test can check that all ranks log the gathered batch's
figures. Usage: accelerate launch --num_processes 2 --cpu tests/support/train_ranks_child.py OUT CONFIG [--resume]"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "src"))


def main() -> None:
    out, arguments = Path(sys.argv[1]), sys.argv[2:]
    from judgerl.train.batch import Batch

    # torchrun's rank (accelerate's process state is left for `judgerl train` to set up)
    path = out / f"metrics-rank{os.environ['RANK']}.jsonl"
    logged = Batch.metric

    def metric(self: Batch, name: str, value: float | None) -> None:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": self.step, "name": name, "value": value}) + "\n")
        logged(self, name, value)

    Batch.metric = metric  # type: ignore[method-assign]
    from judgerl.cli.main import main as cli_main

    sys.argv = ["judgerl", "train", *arguments]
    cli_main()


if __name__ == "__main__":
    main()
