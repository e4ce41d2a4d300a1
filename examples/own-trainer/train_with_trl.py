"""Train with your own TRL GRPOTrainer and judgerl's reward (docs/training.md, "Your own trainer").

    python examples/own-trainer/train_with_trl.py --policy Qwen/Qwen2.5-0.5B-Instruct --max-steps 20

The reward is exactly the one `judgerl train` would use for reward.yaml: the judge with its verdict cache, the
gate and reward checks, the content-free defence, the unscored-fraction guard and the verdict store (read it
with `judgerl report`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

from judgerl.train import reward_function

HERE = Path(__file__).resolve().parent

parser = argparse.ArgumentParser()
parser.add_argument("--policy", default="Qwen/Qwen2.5-0.5B-Instruct", help="folder or Hugging Face id")
parser.add_argument("--config", default=str(HERE / "reward.yaml"), help="judgerl config: judge and reward")
parser.add_argument("--max-steps", type=int, default=20)
parser.add_argument("--output-dir", default="runs/own-trainer/policy")
args = parser.parse_args()

prompts = [
    "A customer asks how to reset their password.",
    "A customer says their parcel arrived damaged.",
    "A customer wants to cancel their subscription.",
    "A customer asks whether you ship to Canada.",
]
dataset = Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in prompts]})

num_generations = 4
on_gpu = torch.cuda.is_available()
with reward_function(args.config, num_generations=num_generations) as rewards:
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(args.policy),
        processing_class=AutoTokenizer.from_pretrained(args.policy),
        reward_funcs=rewards.functions,
        train_dataset=dataset,
        args=GRPOConfig(
            output_dir=args.output_dir,
            num_generations=num_generations,
            per_device_train_batch_size=num_generations,
            reward_weights=rewards.weights,
            max_steps=args.max_steps,
            max_completion_length=64,
            logging_steps=1,
            report_to="none",
            bf16=on_gpu,
            use_cpu=not on_gpu,
        ),
    )
    trainer.train()
    print(f"rewards {rewards.names} logged to the verdict store as run {rewards.run_id}")
