"""The in-process judge: a Hugging Face causal LM run with torch, on CPU by default.

Verdicts are read from next-token probabilities in one forward pass. Prompts passed together usually share a
long prefix (one sample's instructions, task and response; only the criterion differs), so that prefix is run
once and every suffix continues from a copy of its KV cache: one group at a time (``prefill="grouped"``, the
default), or several groups per forward pass (``prefill="batched"``, backends/batched_prefill.py).
"""

from __future__ import annotations

import copy
import inspect
import logging
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from judgerl.backends.base import Generation, JudgePrompt, LabelResult
from judgerl.backends.batched_prefill import BatchedPrefill, cache_of
from judgerl.backends.coalesce import CoalescedLabels
from judgerl.backends.cpu_features import read_cpu_features
from judgerl.backends.label_tokens import label_first_tokens
from judgerl.backends.prefix_plan import chunks, plan_prefix_groups
from judgerl.errors import BackendUnavailable, JudgerlError, ModelNotFound

log = logging.getLogger(__name__)

_DTYPES = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "float32": torch.float32,
    "fp32": torch.float32,
}
#: ``prefill``: one pass per prefix group ("grouped"), or few passes of up to ``max_batch`` rows across groups
#: ("batched", backends/batched_prefill.py). Grouped stays the default until a GPU run measures the other.
PREFILL_MODES = ("grouped", "batched")
# End-of-turn markers of common chat templates, used as stop tokens when present in the vocabulary.
_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>")


def _cache_argument(body: Any) -> str:
    """The keyword this transformers version's forward takes the KV cache by: ``cache`` in recent 5.x releases,
    ``past_key_values`` before (5.17 has only that; later ones accept it, deprecated, until 5.40)."""
    parameters = inspect.signature(body.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _resolve_model(model: str) -> str:
    """A local directory as given; anything else through the model catalog (names, .gguf files, HF ids)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    try:
        from judgerl.models.catalog import resolve_model
    except ModuleNotFoundError as exc:
        if exc.name != "judgerl.models.catalog":
            raise
        resolved = model
    else:
        resolved = resolve_model(model)
    if resolved.startswith(("/", ".", "~")) and not Path(resolved).expanduser().is_dir():
        raise ModelNotFound(
            f"judge model directory '{model}' does not exist: pass a local Hugging Face model "
            "directory, a .gguf file, or a model name from the catalog"
        )
    return str(Path(resolved).expanduser()) if resolved.startswith("~") else resolved


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes bf16 natively (AVX512-BF16 or AMX). Without it torch emulates bf16 and a
    forward pass is several times slower than fp32: 35.6 s against 5.7 s for 600 tokens through Qwen-0.5B
    on an AVX2-only EPYC (2 cores)."""
    return read_cpu_features(cpuinfo).native_bf16


def auto_dtype(device: torch.device) -> torch.dtype:
    """bf16 where it is fast (a bf16-capable GPU, or a CPU with native bf16), else fp16 on older GPUs and fp32
    on CPUs."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else torch.float32


class TransformersBackend(CoalescedLabels):
    """A local causal LM as the judge (``--backend transformers``)."""

    name = "transformers"
    supports_logprobs = True
    supports_hidden_states = True

    def __init__(
        self,
        model: str,
        *,
        dtype: str = "auto",
        max_input_tokens: int = 4096,
        share_prefix: bool = True,
        coalesce_ms: float = 10.0,
        max_batch: int = 16,
        threads: int | None = None,
        device: str | None = None,
        prefill: str = "grouped",
    ) -> None:
        super().__init__(model_id=model, max_input_tokens=max_input_tokens)
        if max_batch < 1:
            raise JudgerlError(f"max_batch must be at least 1, got {max_batch}")
        if prefill not in PREFILL_MODES:
            raise JudgerlError(f"unknown prefill '{prefill}': choose {' or '.join(PREFILL_MODES)}")
        self.prefill = prefill
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # The final projection stays fp32 whatever the dtype (see _head).
        torch_dtype = auto_dtype(self.device) if dtype == "auto" else _DTYPES.get(dtype)
        if torch_dtype is None:
            raise JudgerlError(f"unknown dtype '{dtype}': choose auto, {', '.join(_DTYPES)}")
        if threads is not None:
            torch.set_num_threads(threads)
        self.share_prefix = share_prefix
        self._init_coalescing(coalesce_ms)
        self.max_batch = max_batch
        path = _resolve_model(model)
        try:
            tokenizer: Any = AutoTokenizer.from_pretrained(path)
            model_obj: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        except OSError as exc:
            raise ModelNotFound(f"cannot load judge model '{model}': {_one_line(exc)}") from None
        except Exception as exc:  # a broken checkpoint or an unsupported architecture: a set-up error
            raise BackendUnavailable(f"cannot load judge model '{model}': {_one_line(exc)}") from None
        self.tokenizer: Any = tokenizer
        self.model: Any = model_obj
        self.model.to(self.device).eval()
        self.dtype_name = str(torch_dtype).removeprefix("torch.")
        self._body: Any = self.model.base_model
        self._cache_arg = _cache_argument(self._body)
        head = self.model.get_output_embeddings()
        # A float32 copy of the last projection only (its weight may be tied to the embeddings, which stay
        # in the model dtype): bf16 logits would round label probabilities to ~3% steps.
        self._head_w = head.weight.detach().to(torch.float32)
        bias = getattr(head, "bias", None)
        self._head_b = None if bias is None else bias.detach().to(torch.float32)
        cfg = self.model.config.get_text_config()
        self._softcap: float | None = getattr(cfg, "final_logit_softcapping", None)
        self._logit_div: float = float(getattr(cfg, "logits_scaling", None) or 1.0)  # Granite divides logits
        self._lock = threading.Lock()
        self._label_cache: dict[tuple[str, ...], dict[str, list[int]]] = {}
        self._stop_ids = self._find_stop_ids()

    # -- tokens -----------------------------------------------------------------------------------------------

    @property
    def cache_identity(self) -> str:
        # bf16 and fp32 verdicts of one model differ by a few hundredths of a probability: never mix them in a cache;
        # in bf16 the batched prefill's padded sums differ from the grouped passes' by up to 0.019 (BENCHMARKS.md)
        mode = "" if self.prefill == "grouped" else f"/{self.prefill}"
        return f"{self.model_id}@{self.dtype_name}{mode}"

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, prompt: JudgePrompt) -> str:
        """The prompt as the model sees it: chat template, assistant header, then the answer prefix."""
        messages = [{"role": "system", "content": prompt.system}] if prompt.system else []
        messages.append({"role": "user", "content": prompt.user})
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            bos = self.tokenizer.bos_token or ""
            system = f"System: {prompt.system}\n\n" if prompt.system else ""
            text = f"{bos}{system}User: {prompt.user}\n\nAssistant: "
        return str(text) + prompt.answer_prefix

    def _encode(self, prompt: JudgePrompt) -> list[int]:
        # The template already carries its special tokens; adding BOS again would shift the model's view.
        return list(self.tokenizer(self.render(prompt), add_special_tokens=False)["input_ids"])

    def _find_stop_ids(self) -> set[int]:
        stop: set[int] = set()
        for source in (self.tokenizer.eos_token_id, getattr(self.model.generation_config, "eos_token_id", None)):
            if isinstance(source, int):
                stop.add(source)
            elif isinstance(source, list):
                stop.update(int(t) for t in source)
        vocab = self.tokenizer.get_vocab()
        stop.update(vocab[t] for t in _END_OF_TURN if t in vocab)
        return stop

    def label_token_ids(self, labels: Sequence[str]) -> dict[str, list[int]]:
        return label_first_tokens(
            labels,
            lambda text: self.tokenizer(text, add_special_tokens=False)["input_ids"],
            self.tokenizer.convert_ids_to_tokens,
            self._label_cache,
        )

    # -- model calls --------------------------------------------------------------------------------------------

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = torch.nn.functional.linear(hidden.to(torch.float32), self._head_w, self._head_b)
        if self._logit_div != 1.0:
            logits = logits / self._logit_div
        if self._softcap:
            logits = torch.tanh(logits / self._softcap) * self._softcap
        return logits

    def _run_alone(self, ids: list[int]) -> torch.Tensor:
        """The last layer's state after one prompt (what the next-token logits are read from), on its own."""
        out = self._body(input_ids=torch.tensor([ids], device=self.device), use_cache=False)
        # a copy: a view would keep the whole prompt's states alive until every group has run
        return out.last_hidden_state[0, -1].clone()

    def _run_shared(self, ids: list[list[int]], prefix_len: int) -> list[torch.Tensor]:
        """The last layer's state after each prompt of a group sharing their first ``prefix_len`` tokens: the prefix
        runs once, then the suffixes as right-padded batches over copies of the prefix's KV cache."""
        prefix = torch.tensor([ids[0][:prefix_len]], device=self.device)
        cache = cache_of(self._body(input_ids=prefix, use_cache=True))
        results: list[torch.Tensor] = [torch.empty(0)] * len(ids)
        # Similar lengths together keep the padding small.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        for chunk in chunks(order, self.max_batch):
            lengths = [len(ids[i]) - prefix_len for i in chunk]
            width = max(lengths)
            batch = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), prefix_len + width), dtype=torch.long)
            mask[:, :prefix_len] = 1
            for row, (i, n) in enumerate(zip(chunk, lengths, strict=True)):
                batch[row, :n] = torch.tensor(ids[i][prefix_len:])
                mask[row, prefix_len : prefix_len + n] = 1
            rows_cache = copy.deepcopy(cache)
            rows_cache.batch_repeat_interleave(len(chunk))
            hidden = self._body(
                input_ids=batch.to(self.device),
                attention_mask=mask.to(self.device),
                use_cache=True,
                **{self._cache_arg: rows_cache},
            ).last_hidden_state
            last = hidden[torch.arange(len(chunk), device=self.device), torch.tensor(lengths, device=self.device) - 1]
            for row, i in enumerate(chunk):
                results[i] = last[row]
        return results

    def _plan(self, ids: list[list[int]], members: list[int]) -> list[tuple[list[int], int]]:
        """Split prompts into groups that share a prefix, as (members, shared length; 0 = run alone), choosing
        the split that runs the fewest tokens (padding counted)."""
        return plan_prefix_groups(ids, members, max_batch=self.max_batch, padded=True)

    def _run_batched(
        self, ids: list[list[int]], plan: list[tuple[list[int], int]]
    ) -> dict[int, tuple[torch.Tensor, float]] | None:
        """Every planned prompt's state from the batched passes, each with its share of their time; None where
        they fail (the caller then runs the grouped passes)."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        runner = BatchedPrefill(self._body, self._cache_arg, max_batch=self.max_batch, pad_id=pad, device=self.device)
        start = time.perf_counter()
        try:
            found = runner.run(ids, plan)
        except Exception as exc:  # e.g. a sliding-window cache
            log.warning("batched prefill failed (%s); scoring with one pass per prefix group", _one_line(exc))
            return None
        latency = (time.perf_counter() - start) / max(1, len(found))  # the passes are split evenly
        return {i: (state, latency) for i, state in found.items()}

    def _run_grouped(
        self, ids: list[list[int]], plan: list[tuple[list[int], int]], results: list[LabelResult | None]
    ) -> dict[int, tuple[torch.Tensor, float]]:
        """Every planned prompt's state from one pass per group (a prefix, then its suffixes) or per lone prompt,
        each with its share of its group's time; a prompt whose pass fails gets its error in ``results``."""
        found: dict[int, tuple[torch.Tensor, float]] = {}
        for members, shared in plan:
            start = time.perf_counter()
            try:
                if shared:
                    outs = self._run_shared([ids[i] for i in members], shared)
                else:
                    outs = [self._run_alone(ids[members[0]])]
            except Exception as exc:
                if len(members) > 1:  # e.g. a cache type without batch expansion: run them one by one
                    log.warning("shared-prefix pass failed (%s); scoring those prompts one at a time", exc)
                    plan.extend(([i], 0) for i in members)  # the loop reaches these appended entries
                    continue
                err = f"judge forward pass failed: {_one_line(exc)}"
                results[members[0]] = LabelResult(None, 0.0, len(ids[members[0]]), error=err)
                continue
            latency = (time.perf_counter() - start) / len(members)  # a shared pass is split evenly
            found.update((i, (state, latency)) for i, state in zip(members, outs, strict=True))
        return found

    def _score(self, logits: torch.Tensor, label_ids: dict[str, list[int]]) -> tuple[dict[str, float], float]:
        probs = torch.softmax(logits.to(torch.float32), dim=-1)
        per_label = {label: float(probs[tokens].sum()) for label, tokens in label_ids.items()}
        mass = float(probs[sorted({t for tokens in label_ids.values() for t in tokens})].sum())
        total = sum(per_label.values())
        if not (total > 0 and math.isfinite(total)):
            raise ValueError("the judge put no probability on any label")
        return {label: p / total for label, p in per_label.items()}, min(mass, 1.0)

    def label_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        return [result for result, _hidden in self._label_pass(prompts, labels, keep_hidden=False)]

    def label_probs_with_hidden(
        self, prompts: Sequence[JudgePrompt], labels: Sequence[str]
    ) -> list[tuple[LabelResult, list[float] | None]]:
        """Label probabilities and the final-norm hidden state at the verdict position, from the same pass."""
        return self._label_pass(prompts, labels, keep_hidden=True)

    def _label_pass(
        self, prompts: Sequence[JudgePrompt], labels: Sequence[str], keep_hidden: bool
    ) -> list[tuple[LabelResult, list[float] | None]]:
        label_ids = self.label_token_ids(labels)
        results: list[LabelResult | None] = [None] * len(prompts)
        states: list[list[float] | None] = [None] * len(prompts)
        ids: list[list[int]] = []
        runnable: list[int] = []
        for i, prompt in enumerate(prompts):
            try:
                ids.append(self._encode(prompt))
            except Exception as exc:  # e.g. a template that rejects the messages
                ids.append([])
                results[i] = LabelResult(probs=None, mass=0.0, error=f"cannot render the prompt: {_one_line(exc)}")
                continue
            if len(ids[i]) > self.max_input_tokens:
                msg = f"prompt has {len(ids[i])} tokens, over the judge's limit of {self.max_input_tokens}"
                results[i] = LabelResult(probs=None, mass=0.0, prompt_tokens=len(ids[i]), error=msg)
            else:
                runnable.append(i)
        plan = self._plan(ids, runnable) if self.share_prefix else [([i], 0) for i in runnable]
        with self._lock, torch.inference_mode():
            found = self._run_batched(ids, plan) if self.prefill == "batched" and plan else None
            if found is None:
                found = self._run_grouped(ids, plan, results)
            for i, (state, latency) in found.items():
                if keep_hidden:
                    states[i] = state.to(torch.float32).tolist()
                try:
                    probs, mass = self._score(self._logits(state), label_ids)
                    results[i] = LabelResult(probs, mass, len(ids[i]), latency)
                except ValueError as exc:
                    results[i] = LabelResult(None, 0.0, len(ids[i]), latency, error=str(exc))
        missing = LabelResult(probs=None, mass=0.0, error="not scored")
        return [(r if r is not None else missing, h) for r, h in zip(results, states, strict=True)]

    def _greedy(self, ids: list[int], max_new_tokens: int) -> list[int]:
        out = self._body(input_ids=torch.tensor([ids], device=self.device), use_cache=True)
        new: list[int] = []
        while len(new) < max_new_tokens:
            token = int(self._logits(out.last_hidden_state[0, -1]).argmax())
            new.append(token)
            if token in self._stop_ids:
                break
            step = torch.tensor([[token]], device=self.device)
            out = self._body(input_ids=step, use_cache=True, **{self._cache_arg: cache_of(out)})
        return new

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        """Greedy replies, one prompt at a time (padded batches were slower on a 2-core CPU). The text starts
        after the answer prefix and stops before the end-of-turn token."""
        results: list[Generation] = []
        for prompt in prompts:
            start = time.perf_counter()
            try:
                ids = self._encode(prompt)
                if len(ids) > self.max_input_tokens:
                    msg = f"prompt has {len(ids)} tokens, over the judge's limit of {self.max_input_tokens}"
                    results.append(Generation(text=None, prompt_tokens=len(ids), error=msg))
                    continue
                with self._lock, torch.inference_mode():
                    new = self._greedy(ids, max_new_tokens)
                body = new[:-1] if new and new[-1] in self._stop_ids else new
                text = self.tokenizer.decode(body, skip_special_tokens=True)
                results.append(Generation(text, len(ids), len(new), time.perf_counter() - start))
            except Exception as exc:
                results.append(Generation(text=None, error=f"generation failed: {_one_line(exc)}"))
        return results

    def close(self) -> None:
        self.model = self._body = None
        self._head_w = torch.empty(0)
        self._head_b = None
