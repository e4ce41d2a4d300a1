"""Average a run's LoRA checkpoints into one adapter, exactly: the mean of the checkpoints' weight updates.

GRPO on a small batch moves the policy by noise as much as by the reward: on the safety task a run's checkpoints five
steps apart differ by up to 15 points on the held-out requests. Averaging the checkpoints' updates keeps what the
steps share and cancels part of what they do not (the idea of weight averaging, e.g. stochastic weight averaging and
WARP's averaged rewarded policies).

A LoRA update is ``scale * B @ A``; the mean of k of them is not a LoRA of the same rank, but it is exactly one of
rank ``k * r``: stack the ``A`` matrices along the rank and the ``B`` matrices beside each other, each ``B`` times its
weight, and multiply ``lora_alpha`` by k so the scale (``alpha / r``) stays the same. The result loads with PEFT like
any adapter (``judgerl eval --policy``, ``PeftModel.from_pretrained``); merged, it equals the base plus the mean of
the merged updates. Weights other than LoRA's (``modules_to_save``) are averaged element-wise.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from judgerl.errors import JudgerlError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
#: written beside the averaged adapter: where it came from
SOURCES_FILE = "averaged_from.json"
#: the config fields every averaged checkpoint must share (the update's shape and scale depend on them)
_SHARED_FIELDS = (
    "peft_type",
    "r",
    "lora_alpha",
    "target_modules",
    "use_rslora",
    "use_dora",
    "bias",
    "fan_in_fan_out",
    "modules_to_save",
)
#: tensors that carry the rank: (name pattern, the dimension the rank is on)
_RANK_DIMS = ((re.compile(r"\.lora_(embedding_)?A(\.|$)"), 0), (re.compile(r"\.lora_(embedding_)?B(\.|$)"), 1))
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
#: tokenizer and template files copied from the last checkpoint, so the average loads like a checkpoint
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


class AveragedAdapter(BaseModel):
    """What :func:`average_adapters` wrote: the folder, its sources, their weights and the new rank."""

    output: str
    sources: list[str]
    weights: list[float]
    rank: int
    lora_alpha: float
    base_model: str | None


def run_checkpoints(run_dir: Path, first_step: int = 0, last_step: int | None = None) -> list[Path]:
    """The run folder's ``checkpoint-N`` folders with ``first_step <= N <= last_step``, by step."""
    found = []
    for path in run_dir.glob("checkpoint-*"):
        match = _CHECKPOINT.match(path.name)
        if match and path.is_dir():
            step = int(match.group(1))
            if step >= first_step and (last_step is None or step <= last_step):
                found.append((step, path))
    if not found:
        span = f"steps {first_step}-{'end' if last_step is None else last_step}"
        raise JudgerlError(f"{run_dir}: no checkpoint-N folders at {span}; train with grpo.save_steps to keep some")
    return [path for _, path in sorted(found)]


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / ADAPTER_CONFIG
    if not path.exists():
        raise JudgerlError(f"{folder}: no {ADAPTER_CONFIG}; only LoRA adapter folders (checkpoint-N) can be averaged")
    try:
        config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise JudgerlError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if config.get("peft_type") != "LORA":
        raise JudgerlError(f"{path}: peft_type {config.get('peft_type')!r}; only LoRA adapters can be averaged")
    for field in ("rank_pattern", "alpha_pattern"):
        if config.get(field):
            raise JudgerlError(f"{path}: {field} is set; averaging needs one rank and one alpha for every module")
    if config.get("use_dora"):
        raise JudgerlError(
            f"{path}: use_dora is true; a DoRA update is not linear in its weights, so it cannot be averaged this way"
        )
    return config


def _check_alike(configs: list[dict[str, Any]], folders: Sequence[Path]) -> None:
    first = configs[0]
    for config, folder in zip(configs[1:], folders[1:], strict=True):
        for field in _SHARED_FIELDS:
            mine, theirs = first.get(field), config.get(field)
            if isinstance(mine, list) and isinstance(theirs, list):
                mine, theirs = sorted(map(str, mine)), sorted(map(str, theirs))
            if mine != theirs:
                raise JudgerlError(
                    f"{folder / ADAPTER_CONFIG}: {field} is {config.get(field)!r}, {folders[0]} has "
                    f"{first.get(field)!r}; average checkpoints of one run (or of runs with the same LoRA settings)"
                )


def _normalised(weights: Sequence[float] | None, count: int) -> list[float]:
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise JudgerlError(f"--weights: {len(weights)} weights for {count} checkpoints; give one per checkpoint")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise JudgerlError("--weights: weights must be non-negative with a positive sum")
    total = float(sum(weights))
    return [float(w) / total for w in weights]


def _rank_dim(name: str) -> int | None:
    for pattern, dim in _RANK_DIMS:
        if pattern.search(name):
            return dim
    return None


def _averaged_tensors(states: list[dict[str, Any]], weights: list[float], folders: Sequence[Path]) -> dict[str, Any]:
    import torch

    names = list(states[0])
    for state, folder in zip(states[1:], folders[1:], strict=True):
        if set(state) != set(names):
            extra = sorted(set(state) ^ set(names))[:3]
            raise JudgerlError(
                f"{folder / ADAPTER_WEIGHTS}: its tensors differ from {folders[0]}'s ({', '.join(extra)}); "
                "average checkpoints of one run"
            )
    out: dict[str, Any] = {}
    for name in names:
        dim = _rank_dim(name)
        tensors = [state[name].to(torch.float32) for state in states]
        dtype = states[0][name].dtype
        if dim is None:  # a full weight (modules_to_save): the weighted mean itself
            out[name] = sum(w * t for w, t in zip(weights, tensors, strict=True)).to(dtype)
        elif dim == 0:  # A: stacked along the rank
            out[name] = torch.cat(tensors, dim=0).to(dtype).contiguous()
        else:  # B: side by side, each times its weight (the scale is kept, so the product is the weighted mean)
            scaled = [t * w for w, t in zip(weights, tensors, strict=True)]
            out[name] = torch.cat(scaled, dim=1).to(dtype).contiguous()
    return out


def average_adapters(folders: Sequence[Path], output: Path, weights: Sequence[float] | None = None) -> AveragedAdapter:
    """Write to ``output`` the LoRA adapter whose update is the weighted mean of ``folders``' updates (uniform by
    default); the base model is the first checkpoint's."""
    from safetensors.torch import load_file, save_file

    if len(folders) < 2:
        raise JudgerlError(f"averaging needs at least two checkpoints; got {len(folders)}")
    resolved = [Path(f) for f in folders]
    if output.resolve() in {f.resolve() for f in resolved}:
        raise JudgerlError(f"--output {output}: is one of the checkpoints being averaged; choose a new folder")
    configs = [_read_config(folder) for folder in resolved]
    _check_alike(configs, resolved)
    shares = _normalised(weights, len(resolved))
    missing = [str(f / ADAPTER_WEIGHTS) for f in resolved if not (f / ADAPTER_WEIGHTS).exists()]
    if missing:
        raise JudgerlError(f"{missing[0]}: not found; each checkpoint needs its adapter weights (safetensors)")
    states = [load_file(str(folder / ADAPTER_WEIGHTS)) for folder in resolved]
    tensors = _averaged_tensors(states, shares, resolved)
    count = len(resolved)
    config = dict(configs[0])
    config["r"] = int(config["r"]) * count
    # keep the scale: alpha / r (k-fold both), or alpha / sqrt(r) under rsLoRA (alpha grows by sqrt(k))
    alpha = config["lora_alpha"]
    config["lora_alpha"] = alpha * math.sqrt(count) if config.get("use_rslora") else alpha * count
    output.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(output / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    (output / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    for name in _TOKENIZER_FILES:
        if (resolved[-1] / name).exists():
            shutil.copy2(resolved[-1] / name, output / name)
    result = AveragedAdapter(
        output=str(output),
        sources=[str(f) for f in resolved],
        weights=shares,
        rank=config["r"],
        lora_alpha=config["lora_alpha"],
        base_model=config.get("base_model_name_or_path"),
    )
    (output / SOURCES_FILE).write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return result
