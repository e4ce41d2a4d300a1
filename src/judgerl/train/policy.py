"""Loading the policy (base or fine-tuned) and the judge backend a config names."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judgerl.errors import JudgerlError
from judgerl.train.config import PolicyConfig
from judgerl.train.data import PromptRow

logger = logging.getLogger(__name__)


def resolve_model(name: str) -> str:
    """A catalog name, local folder, .gguf file or hub id -> what ``from_pretrained`` loads."""
    try:
        from judgerl.models.catalog import resolve_model as resolve  # the model catalog
    except ImportError:
        return name
    resolved: str = resolve(name)
    return resolved


def torch_dtype(name: str) -> Any:
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}[name]


def policy_dtype(name: str, *, gpu_bf16: bool | None = None, cpu_bf16: bool | None = None) -> str:
    """The dtype ``policy.dtype`` loads the policy in. ``auto``: bfloat16 where the hardware computes it natively
    (a GPU with bf16, or a CPU with AVX512-BF16 or AMX), float32 elsewhere; on an AVX2-only CPU torch emulates bf16
    and a step is slower than in float32. ``gpu_bf16`` and ``cpu_bf16`` are detected when not given."""
    if name != "auto":
        return name
    if gpu_bf16 is None:
        import torch

        gpu_bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if gpu_bf16:
        return "bfloat16"
    if cpu_bf16 is None:
        import torch

        from judgerl.backends.transformers_backend import cpu_has_native_bf16

        cpu_bf16 = not torch.cuda.is_available() and cpu_has_native_bf16()
    return "bfloat16" if cpu_bf16 else "float32"


def _load_dtype(policy: PolicyConfig) -> Any:
    name = policy_dtype(policy.dtype)
    if policy.dtype == "auto":
        logger.info("policy dtype auto: %s", name)
    return torch_dtype(name)


def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        raise JudgerlError(f"policy '{path}' has no chat template; use an instruction-tuned (chat) model")
    return tokenizer


def load_policy(policy: PolicyConfig) -> tuple[Any, Any]:
    """(model, tokenizer) of the base policy."""
    from transformers import AutoModelForCausalLM

    path = resolve_model(policy.model)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=_load_dtype(policy))
    except OSError as exc:
        raise JudgerlError(f"policy.model: cannot load '{policy.model}' ({str(exc).splitlines()[0]})") from None
    return model, load_tokenizer(path)


def load_trained_policy(path: str | Path, policy: PolicyConfig | None = None) -> tuple[Any, Any]:
    """A policy saved by ``judgerl train`` (a LoRA adapter folder or a full model), or any model reference."""
    from transformers import AutoModelForCausalLM

    folder = Path(path)
    adapter = folder / "adapter_config.json"
    if adapter.exists():
        from peft import PeftModel

        base_name = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path")
        if policy is not None:
            base_name = resolve_model(policy.model)
        dtype = _load_dtype(policy) if policy is not None else "auto"
        base = AutoModelForCausalLM.from_pretrained(base_name, dtype=dtype)
        model = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
        tokenizer_path = folder if (folder / "tokenizer_config.json").exists() else base_name
        return model, load_tokenizer(str(tokenizer_path))
    if policy is not None and str(path) == policy.model:
        return load_policy(policy)
    resolved = resolve_model(str(path))
    dtype = _load_dtype(policy) if policy is not None else "auto"
    try:
        model = AutoModelForCausalLM.from_pretrained(resolved, dtype=dtype)
    except OSError as exc:
        raise JudgerlError(f"cannot load policy '{path}' ({str(exc).splitlines()[0]})") from None
    return model, load_tokenizer(resolved)


def generate_replies(
    model: Any,
    tokenizer: Any,
    rows: Sequence[PromptRow],
    *,
    max_new_tokens: int,
    batch_size: int,
    sampling: dict[str, Any] | None = None,
    per_prompt: int = 1,
) -> list[str]:
    """The policy's replies to ``rows`` through its chat template, batched with left padding, stripped: greedy, or
    sampled with ``sampling`` (temperature, top_k, top_p), ``per_prompt`` to each row (row-major order)."""
    import torch

    tokenizer.padding_side = "left"
    model.eval()
    options: dict[str, Any] = {"do_sample": True, **sampling} if sampling else {"do_sample": False}
    replies: list[str] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        texts = [tokenizer.apply_chat_template(r.prompt, tokenize=False, add_generation_prompt=True) for r in chunk]
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                num_return_sequences=per_prompt,
                pad_token_id=tokenizer.pad_token_id,
                **options,
            )
        decoded = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
        replies += [reply.strip() for reply in decoded]
        logger.info("generated %d/%d", len(replies), len(rows) * per_prompt)
    return replies
