"""Random-weight Qwen2.5 models for benchmarks/gpu_suite.py, built from the published architecture configs (no hub,
no checkpoints), and the yardsticks the suite measures them with: the matmul peak and the model FLOPs of each
forward pass. Imported by the suite after its carried packages are on ``sys.path``."""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import torch
from transformers import AutoModelForCausalLM, Qwen2Config

# Published Qwen2.5 sizes (config.json of Qwen/Qwen2.5-{0.5B,1.5B,7B}) and their published parameter counts.
ARCHS: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True, published_params=0.49e9,
    ),
    "qwen2.5-1.5b": dict(
        hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
        num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True, published_params=1.54e9,
    ),
    "qwen2.5-7b": dict(
        hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
        num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False, published_params=7.61e9,
    ),
}  # fmt: skip


# --tiny: same vocabulary (the real tokenizer), 2 layers, hidden 64; the 7B stand-in keeps its untied head.
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


def arch_config(name: str, tiny: bool, tokenizer: Any) -> Qwen2Config:
    spec = {k: v for k, v in ARCHS[name].items() if k != "published_params"}
    if tiny:
        spec.update(TINY)
    return Qwen2Config(
        **spec,
        max_position_embeddings=32768,
        rms_norm_eps=1e-6,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )


def new_model(config: Qwen2Config, dtype: torch.dtype, device: torch.device, seed: int = 0) -> Any:
    """A randomly initialised causal LM, created directly on ``device``."""
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model.eval()


def architecture_params(tokenizer: Any) -> dict[str, dict[str, Any]]:
    """Parameter counts of the full-size configs, built on the meta device (no memory), beside the published."""
    counted = {}
    for name, spec in ARCHS.items():
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(arch_config(name, False, tokenizer))
        counted[name] = {**param_counts(model), "published": spec["published_params"]}
        print(
            f"{name}: {counted[name]['total'] / 1e9:.3f}B parameters ({counted[name]['non_embedding'] / 1e9:.3f}B "
            f"without embeddings); published {spec['published_params'] / 1e9:.2f}B",
            flush=True,
        )
    return counted


def param_counts(model: Any) -> dict[str, int]:
    body = sum(p.numel() for n, p in model.named_parameters() if "embed_tokens" not in n and "lm_head" not in n)
    return {"total": sum(p.numel() for p in model.parameters()), "non_embedding": body}


@contextlib.contextmanager
def random_weights(config: Qwen2Config, device: torch.device) -> Iterator[None]:
    """The judge backend loads its model with from_pretrained: give it a random model of ``config`` instead."""

    def from_config(path: str, *args: Any, dtype: torch.dtype | None = None, **kwargs: Any) -> Any:
        return new_model(config, dtype or torch.float32, device)

    with mock.patch.object(AutoModelForCausalLM, "from_pretrained", from_config):
        yield


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def measure_peak(device: torch.device, dtype: torch.dtype, size: int, repeats: int) -> dict[str, Any]:
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        sync(device)
        best = min(best, time.perf_counter() - started)
    return {"size": size, "dtype": str(dtype), "tflops": 2 * size**3 * repeats / best / 1e12}


class FlopCounter:
    """Model FLOPs of every forward pass through a decoder body (a forward pre-hook): 2 per linear weight and
    token, plus causal attention (QK^T and AV over the cached and new positions)."""

    def __init__(self, body: Any, config: Qwen2Config) -> None:
        self.linear = sum(m.weight.numel() for m in body.modules() if isinstance(m, torch.nn.Linear))
        head_dim = config.hidden_size // config.num_attention_heads
        self.attention = 4 * config.num_hidden_layers * config.num_attention_heads * head_dim
        self.flops = 0.0
        self.tokens = 0
        self.handle = body.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            return
        rows, new = ids.shape
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        past = int(cache.get_seq_length()) if cache is not None else 0
        self.tokens += rows * new
        self.flops += 2 * self.linear * rows * new + self.attention * rows * new * (past + (new + 1) / 2)

    def reset(self) -> None:
        self.flops, self.tokens = 0.0, 0

    def close(self) -> None:
        self.handle.remove()


def raw_prefill(model: Any, device: torch.device, rows: int, length: int, vocab: int) -> dict[str, Any]:
    """One batch of equal-length rows through the model body alone, no cache (best of 3): a plain prefill."""
    counter = FlopCounter(model.base_model, model.config)
    ids = torch.randint(0, vocab, (rows, length), device=device)
    elapsed = math.inf
    with torch.inference_mode():
        model.base_model(input_ids=ids, use_cache=False)  # warm-up
        for _ in range(3):
            sync(device)
            counter.reset()
            started = time.perf_counter()
            model.base_model(input_ids=ids, use_cache=False)
            sync(device)
            elapsed = min(elapsed, time.perf_counter() - started)
    counter.close()
    return {"rows": rows, "tokens_per_row": length, "seconds": elapsed, "tflops": counter.flops / elapsed / 1e12}
