"""The in-process judge on llama.cpp (``--backend llamacpp``): the packaged GGUF files run as they are, with
llama.cpp's quantised CPU kernels, instead of dequantised to fp32 for torch.

The prompt is the transformers backend's, token for token: the GGUF's own chat template (the one its converted
Hugging Face tokenizer carries) rendered the way transformers renders it, then the answer prefix, tokenised by the
GGUF's vocabulary. Verdicts are read from the next-token logits; prompts sharing a prefix run it once
(llamacpp_engine). ``embeddings=True`` also keeps the hidden state at the verdict position (``verdict_states``),
for a probe fitted on the judge's states.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from judgerl.backends.base import Generation, JudgePrompt, LabelResult
from judgerl.backends.coalesce import CoalescedLabels
from judgerl.backends.label_tokens import label_first_tokens
from judgerl.backends.llamacpp_engine import GroupOutput, LlamaCppEngine
from judgerl.backends.prefix_plan import PrefixGroup, plan_prefix_groups
from judgerl.errors import JudgerlError, ModelNotFound

log = logging.getLogger(__name__)

# End-of-turn markers of common chat templates, stop tokens when they are single tokens of the vocabulary (the
# same list as the transformers backend's; llama.cpp's own end-of-generation set is used as well).
_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>")
# What this backend adds to a verdict cache key and a calibration key: llama.cpp's quantised arithmetic moves
# P(PASS) away from the fp32 transformers judge's on the same file (BENCHMARKS.md, llama.cpp vs transformers).
IDENTITY_SUFFIX = "@llamacpp"


def resolve_gguf(model: str) -> Path:
    """A .gguf file as given, or the GGUF kept beside a pulled catalog model."""
    path = Path(model).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelNotFound(f"GGUF file not found: {path}")
        return path
    from judgerl.models.catalog import CATALOG, gguf_path, is_pulled

    if model in CATALOG:
        kept = gguf_path(model)
        if kept is not None:
            return kept
        if not is_pulled(model):
            raise ModelNotFound(f"model '{model}' is not installed; run: judgerl models pull {model} --keep-gguf")
        raise ModelNotFound(
            f"model '{model}' was pulled without its GGUF file; run: judgerl models pull {model} --force --keep-gguf"
        )
    raise ModelNotFound(
        f"the llamacpp backend runs a .gguf file or a catalog model, not '{model}'; "
        "use --backend transformers for a Hugging Face model or folder"
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _raise_exception(message: str) -> None:
    raise ValueError(message)


class LlamaCppBackend(CoalescedLabels):
    """A GGUF model run by llama.cpp in this process."""

    name = "llamacpp"
    supports_logprobs = True

    def __init__(
        self,
        model: str,
        *,
        max_input_tokens: int = 4096,
        n_ctx: int | None = None,
        threads: int | None = None,
        n_batch: int = 512,
        max_batch: int = 16,
        share_prefix: bool = True,
        coalesce_ms: float = 10.0,
        embeddings: bool = False,
    ) -> None:
        super().__init__(model_id=model, max_input_tokens=max_input_tokens)
        if max_batch < 1 or n_batch <= max_batch:
            # llama.cpp sizes its output buffer by the batch: a decode must hold one token of every sequence
            raise JudgerlError(f"need 1 <= max_batch < n_batch, got max_batch {max_batch} and n_batch {n_batch}")
        # room for the longest prompt and a rationale after it
        n_ctx = n_ctx if n_ctx is not None else max_input_tokens + 1024
        if n_ctx <= max_input_tokens:
            raise JudgerlError(f"n_ctx ({n_ctx}) must exceed max_input_tokens ({max_input_tokens})")
        if threads is not None and threads < 1:
            raise JudgerlError(f"threads must be at least 1, got {threads}")
        self._init_coalescing(coalesce_ms)
        self.share_prefix = share_prefix
        self.max_batch = max_batch
        path = resolve_gguf(model)
        self.engine = LlamaCppEngine(
            path, n_ctx=n_ctx, n_batch=n_batch, n_seq=max_batch + 1, threads=threads, embeddings=embeddings
        )
        self.gguf_file = path
        self.chat_template = self.engine.metadata("tokenizer.chat_template")
        self._template: Any = None
        self._lock = threading.Lock()
        self._label_cache: dict[tuple[str, ...], dict[str, list[int]]] = {}
        self._stop_ids = self._find_stop_ids()

    @property
    def cache_identity(self) -> str:
        return f"{self.model_id}{IDENTITY_SUFFIX}"

    # -- prompt text and tokens ----------------------------------------------------------------------------------

    def _special_text(self, which: str) -> str:
        token = self.engine.special_token(which)
        return self.engine.token_text(token) if token is not None else ""

    def render(self, prompt: JudgePrompt) -> str:
        """The prompt as the model sees it: chat template, assistant header, then the answer prefix (the
        transformers backend's text: its template engine's settings, and its plain fallback without a template)."""
        messages = [{"role": "system", "content": prompt.system}] if prompt.system else []
        messages.append({"role": "user", "content": prompt.user})
        if self.chat_template:
            if self._template is None:
                from jinja2.ext import loopcontrols
                from jinja2.sandbox import ImmutableSandboxedEnvironment

                env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
                env.globals["raise_exception"] = _raise_exception
                self._template = env.from_string(self.chat_template)
            text = self._template.render(
                messages=messages,
                add_generation_prompt=True,
                bos_token=self._special_text("bos"),
                eos_token=self._special_text("eos"),
            )
        else:
            system = f"System: {prompt.system}\n\n" if prompt.system else ""
            text = f"{system}User: {prompt.user}\n\nAssistant: "
        return str(text) + prompt.answer_prefix

    def encode(self, prompt: JudgePrompt) -> list[int]:
        # The template already carries its special tokens; no BOS is added (as the transformers backend).
        return self.engine.tokenize(self.render(prompt), special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.engine.tokenize(text, special=False))

    def _find_stop_ids(self) -> set[int]:
        stop = {t for t in (self.engine.special_token("eos"),) if t is not None}
        for marker in _END_OF_TURN:
            ids = self.engine.tokenize(marker, special=True)
            if len(ids) == 1 and self.engine.token_text(ids[0]) == marker:
                stop.add(ids[0])
        return stop

    def _is_stop(self, token: int) -> bool:
        return token in self._stop_ids or self.engine.is_end_of_generation(token)

    def label_token_ids(self, labels: Sequence[str]) -> dict[str, list[int]]:
        return label_first_tokens(
            labels, lambda text: self.engine.tokenize(text, special=False), self.engine.token_text, self._label_cache
        )

    # -- running -------------------------------------------------------------------------------------------------

    def _encode_all(self, prompts: Sequence[JudgePrompt]) -> tuple[list[list[int]], list[int], dict[int, str]]:
        """Token ids of each prompt, the indices that can run, and a reason for each that cannot."""
        ids: list[list[int]] = []
        runnable: list[int] = []
        errors: dict[int, str] = {}
        for i, prompt in enumerate(prompts):
            try:
                ids.append(self.encode(prompt))
            except Exception as exc:  # e.g. a template that rejects the messages
                ids.append([])
                errors[i] = f"cannot render the prompt: {_one_line(exc)}"
                continue
            if len(ids[i]) > self.max_input_tokens:
                errors[i] = f"prompt has {len(ids[i])} tokens, over the judge's limit of {self.max_input_tokens}"
            elif not ids[i]:
                errors[i] = "the prompt renders to no tokens"
            else:
                runnable.append(i)
        return ids, runnable, errors

    def _plan(self, ids: list[list[int]], members: list[int]) -> list[PrefixGroup]:
        """Groups that share a prefix; the prompts that share nothing run together as one group of their own."""
        if not self.share_prefix:
            return [(members, 0)] if members else []
        plan = plan_prefix_groups(ids, members, max_batch=self.max_batch, padded=False)
        alone = [m for group, shared in plan if not shared for m in group]
        return [g for g in plan if g[1]] + ([(alone, 0)] if alone else [])

    def _run(
        self, ids: list[list[int]], members: list[int], max_new_tokens: int
    ) -> list[tuple[list[int], list[GroupOutput] | str, float]]:
        """Each planned group's outputs (or the reason it failed) and its seconds per member; a failing group of
        several prompts is retried one prompt at a time."""
        done: list[tuple[list[int], list[GroupOutput] | str, float]] = []
        plan = self._plan(ids, members)
        with self._lock:
            for group, shared in plan:
                start = time.perf_counter()
                try:
                    outputs = self.engine.run_group(
                        [ids[i] for i in group], shared, max_new_tokens=max_new_tokens, stop=self._is_stop
                    )
                except Exception as exc:
                    if len(group) > 1:
                        log.warning("llama.cpp group of %d prompts failed (%s); one at a time now", len(group), exc)
                        plan.extend(([i], 0) for i in group)  # the loop reaches these appended entries
                        continue
                    done.append((group, _one_line(exc), 0.0))
                    continue
                done.append((group, outputs, (time.perf_counter() - start) / len(group)))
        return done

    def _score(self, logits: np.ndarray, label_ids: dict[str, list[int]]) -> tuple[dict[str, float], float]:
        shifted = logits.astype(np.float64) - float(np.max(logits))
        probs = np.exp(shifted)
        probs /= probs.sum()
        per_label = {label: float(probs[tokens].sum()) for label, tokens in label_ids.items()}
        mass = float(probs[sorted({t for tokens in label_ids.values() for t in tokens})].sum())
        total = sum(per_label.values())
        if not (total > 0 and math.isfinite(total)):
            raise ValueError("the judge put no probability on any label")
        return {label: p / total for label, p in per_label.items()}, min(mass, 1.0)

    def label_probs(self, prompts: Sequence[JudgePrompt], labels: Sequence[str]) -> list[LabelResult]:
        label_ids = self.label_token_ids(labels)
        ids, runnable, errors = self._encode_all(prompts)
        results: list[LabelResult | None] = [None] * len(prompts)
        for i, reason in errors.items():
            results[i] = LabelResult(probs=None, mass=0.0, prompt_tokens=len(ids[i]), error=reason)
        for group, outputs, latency in self._run(ids, runnable, 0):
            if isinstance(outputs, str):
                results[group[0]] = LabelResult(None, 0.0, len(ids[group[0]]), error=f"llama.cpp failed: {outputs}")
                continue
            for i, out in zip(group, outputs, strict=True):
                try:
                    probs, mass = self._score(out.logits, label_ids)
                    results[i] = LabelResult(probs, mass, len(ids[i]), latency)
                except ValueError as exc:
                    results[i] = LabelResult(None, 0.0, len(ids[i]), latency, error=str(exc))
        return [r if r is not None else LabelResult(probs=None, mass=0.0, error="not scored") for r in results]

    def generate(self, prompts: Sequence[JudgePrompt], max_new_tokens: int = 256) -> list[Generation]:
        """Greedy replies; prompts sharing a prefix decode side by side over it. The text starts after the answer
        prefix and stops before the end-of-turn token."""
        ids, runnable, errors = self._encode_all(prompts)
        results: list[Generation | None] = [None] * len(prompts)
        for i, reason in errors.items():
            results[i] = Generation(text=None, prompt_tokens=len(ids[i]), error=reason)
        for group, outputs, latency in self._run(ids, runnable, max(max_new_tokens, 1)):
            if isinstance(outputs, str):
                results[group[0]] = Generation(text=None, error=f"generation failed: {outputs}")
                continue
            for i, out in zip(group, outputs, strict=True):
                new = out.new_tokens
                body = new[:-1] if new and self._is_stop(new[-1]) else new
                text = b"".join(self.engine.piece(t) for t in body).decode("utf-8", errors="replace")
                results[i] = Generation(text, len(ids[i]), len(new), latency)
        return [r if r is not None else Generation(text=None, error="not generated") for r in results]

    def verdict_states(self, prompts: Sequence[JudgePrompt]) -> list[np.ndarray | None]:
        """The judge's hidden state (after the final norm) at each prompt's last token, where it reads the verdict;
        None for a prompt that cannot run. Needs the backend built with ``embeddings=True``."""
        if not self.engine.embeddings:
            raise JudgerlError("verdict_states needs the llamacpp backend built with embeddings=True")
        ids, runnable, _ = self._encode_all(prompts)
        states: list[np.ndarray | None] = [None] * len(prompts)
        for group, outputs, _latency in self._run(ids, runnable, 0):
            if not isinstance(outputs, str):
                for i, out in zip(group, outputs, strict=True):
                    states[i] = out.state
        return states

    def close(self) -> None:
        with self._lock:
            self.engine.close()
