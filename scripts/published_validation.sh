#!/usr/bin/env bash
# Reproduces the figures in docs/validation.md: the packaged Qwen2.5-Coder-0.5B judge on the shared data.
# Sequential (one model process at a time); writes docs/validation/<run>/{summary.json,index.html,verdicts-*.jsonl}.
# MODEL defaults to the catalog name; the published run used the same converted checkpoint by path.
set -euo pipefail
cd "$(dirname "$0")/.."
export JUDGERL_NONCE_KEY=${JUDGERL_NONCE_KEY:-validation} PYTHONPATH=src
PY=${PY:-python}
MODEL=${MODEL:-qwen2.5-coder-0.5b}
DATA=${DATA:-data/public}
OUT=docs/validation
JUDGE=(--model "$MODEL" --concurrency 1 --backend-option dtype=float32 --backend-option threads=1 --cache "${CACHE:-$OUT/.cache.sqlite}")
run() { local name=$1; shift; echo "=== $name: $(date -u +%FT%TZ)"; /usr/bin/time -f "$name wall %e s" \
  "$PY" -m judgerl validate "$@" "${JUDGE[@]}" --output "$OUT/$name"; }

# Sizes fit about an hour on one CPU core; FAIREVAL_LIMIT=66 judges all of FairEval.
run gsm8k-rubric --rubric examples/rubrics/math_reference.yaml --labels data/gsm8k_final_answer/labelled.jsonl \
  --calibration-examples 10
run ifeval-rubric --rubric examples/rubrics/ifeval_constraints.yaml --labels data/ifeval_smollm2/labelled.jsonl \
  --calibration-examples 6 --repeats 3 --repeat-samples 5
run llmbar-natural --pairs "$DATA/llmbar/LLMBar__Natural.json"
run gsm8k-injection --injection --rubric examples/rubrics/math_reference.yaml \
  --labels data/gsm8k_final_answer/labelled.jsonl --injection-samples 6
run faireval --pairs "$DATA/llmbar/Processed__FairEval.json" --limit "${FAIREVAL_LIMIT:-30}"
run ifeval-compare-generate --rubric examples/rubrics/ifeval_constraints.yaml \
  --labels data/ifeval_smollm2/labelled.jsonl --limit 20 --calibration-examples 0 --compare mode=generate
run ifeval-compare-1.5b --rubric examples/rubrics/ifeval_constraints.yaml \
  --labels data/ifeval_smollm2/labelled.jsonl --limit 40 --calibration-examples 6 --compare model=qwen2.5-coder-1.5b
echo "=== done: $(date -u +%FT%TZ)"
