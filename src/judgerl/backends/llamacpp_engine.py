"""llama.cpp through llama-cpp-python's C API: a GGUF model, one context, and prompts run in groups that share a
prefix.

A group's shared prefix is decoded once on sequence 0; each member's suffix then runs on its own sequence, which
starts as a copy of sequence 0 (``llama_memory_seq_cp``: with a unified KV cache the copy only tags the prefix's
cells with the new sequence, nothing is recomputed or moved). All members' suffixes go into the same batches, and
greedy decoding continues them side by side, one token per live sequence per ``llama_decode``.

llama_cpp is imported only when this module is (the ``llamacpp`` extra).
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp as lc
import numpy as np

from judgerl.errors import BackendUnavailable, JudgerlError

log = logging.getLogger(__name__)


@lc.llama_log_callback
def _to_logging(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    # llama.cpp reports model loading line by line on stderr; keep it in debug logging, errors included (a failed
    # load is raised as a one-line error by the caller)
    log.debug("llama.cpp: %s", text.decode("utf-8", errors="replace").rstrip())


lc.llama_log_set(_to_logging, ctypes.c_void_p(0))
lc.llama_backend_init()


@dataclass
class GroupOutput:
    """What one prompt of a group produced: next-token logits after its last prompt token, the hidden state
    there (when the context has embeddings), and the tokens greedy decoding added."""

    logits: np.ndarray
    state: np.ndarray | None = None
    new_tokens: list[int] = field(default_factory=list)


@dataclass
class _Entry:
    token: int
    pos: int
    seq: int
    want: bool  # read this token's logits


class LlamaCppEngine:
    """One GGUF model and one context with ``n_seq`` sequences over a unified KV cache of ``n_ctx`` cells."""

    def __init__(
        self, path: Path, *, n_ctx: int, n_batch: int, n_seq: int, threads: int | None, embeddings: bool
    ) -> None:
        self.path = path
        params = lc.llama_model_default_params()
        # No extra weight buffer types (AMX tiles, repacked layouts): on an AMX CPU under a hypervisor that does not
        # grant tile state, llama-cpp-python 0.3.36 built natively crashes in its first decode of a quantised model.
        params.use_extra_bufts = False
        self._model: Any = lc.llama_model_load_from_file(str(path).encode(), params)
        if not self._model:
            raise BackendUnavailable(f"llama.cpp cannot load '{path}': not a GGUF model it supports")
        self._vocab: Any = lc.llama_model_get_vocab(self._model)
        self.n_vocab = int(lc.llama_vocab_n_tokens(self._vocab))
        self.n_embd = int(lc.llama_model_n_embd(self._model))
        n_threads = threads or os.cpu_count() or 1
        cparams = lc.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_batch
        cparams.n_seq_max = n_seq
        cparams.kv_unified = True  # sequence copies share the prefix's cells
        cparams.n_threads = n_threads
        cparams.n_threads_batch = n_threads
        cparams.embeddings = embeddings
        cparams.pooling_type = lc.LLAMA_POOLING_TYPE_NONE  # per-token states, not a pooled sentence vector
        cparams.no_perf = True
        self._ctx: Any = lc.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            lc.llama_model_free(self._model)
            raise BackendUnavailable(f"llama.cpp cannot create a context of {n_ctx} tokens for '{path}'")
        self.n_ctx = int(lc.llama_n_ctx(self._ctx))
        self.n_batch = n_batch
        self.n_seq = n_seq
        self.embeddings = embeddings
        self._memory: Any = lc.llama_get_memory(self._ctx)
        self._batch: Any = lc.llama_batch_init(n_batch, 0, 1)

    # -- vocabulary ----------------------------------------------------------------------------------------------

    def metadata(self, key: str) -> str | None:
        size = 1 << 16
        while True:
            buf = ctypes.create_string_buffer(size)
            n = lc.llama_model_meta_val_str(self._model, key.encode(), buf, size)
            if n < 0:
                return None
            if n < size:
                return buf.value.decode("utf-8", errors="replace")
            size = n + 1

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        """Token ids of ``text``, no BOS added; ``special``: special-token text (``<|im_start|>``) is parsed."""
        data = text.encode("utf-8")
        size = len(data) + 8
        while True:
            buf = (lc.llama_token * size)()
            n = lc.llama_tokenize(self._vocab, data, len(data), buf, size, False, special)
            if n >= 0:
                return list(buf[:n])
            size = -n

    def piece(self, token: int, *, special: bool = False) -> bytes:
        """A token's bytes; special tokens are empty unless ``special``."""
        buf = ctypes.create_string_buffer(64)
        n = lc.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = lc.llama_token_to_piece(self._vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def token_text(self, token: int) -> str:
        raw: bytes = lc.llama_vocab_get_text(self._vocab, token)
        return raw.decode("utf-8", errors="replace")

    def is_end_of_generation(self, token: int) -> bool:
        return bool(lc.llama_vocab_is_eog(self._vocab, token))

    def special_token(self, which: str) -> int | None:
        token = int({"bos": lc.llama_vocab_bos, "eos": lc.llama_vocab_eos}[which](self._vocab))
        return token if 0 <= token < self.n_vocab else None

    # -- running -------------------------------------------------------------------------------------------------

    def _decode(self, entries: Sequence[_Entry]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Decode ``entries`` in batches of ``n_batch``; the logits (and states) of those marked ``want``."""
        out: list[tuple[np.ndarray, np.ndarray | None]] = []
        batch = self._batch
        for start in range(0, len(entries), self.n_batch):
            part = entries[start : start + self.n_batch]
            for j, e in enumerate(part):
                batch.token[j] = e.token
                batch.pos[j] = e.pos
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = e.seq
                batch.logits[j] = e.want
            batch.n_tokens = len(part)
            code = lc.llama_decode(self._ctx, batch)
            if code != 0:
                raise RuntimeError(f"llama_decode returned {code} (1: no room in the KV cache)")
            for j, e in enumerate(part):
                if not e.want:
                    continue
                logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(self._ctx, j), shape=(self.n_vocab,)).copy()
                state = None
                if self.embeddings:
                    pointer = lc.llama_get_embeddings_ith(self._ctx, j)
                    state = np.ctypeslib.as_array(pointer, shape=(self.n_embd,)).copy() if pointer else None
                out.append((logits, state))
        return out

    def _chunks(self, prompts: Sequence[Sequence[int]], shared: int, max_new_tokens: int) -> list[list[int]]:
        """Members in runs that fit the context's sequences and KV cells together with the shared prefix."""
        runs: list[list[int]] = []
        current: list[int] = []
        used = shared
        for i, ids in enumerate(prompts):
            need = len(ids) - shared + max_new_tokens
            if current and (len(current) >= self.n_seq - 1 or used + need > self.n_ctx):
                runs.append(current)
                current, used = [], shared
            current.append(i)
            used += need
        if current:
            runs.append(current)
        return runs

    def run_group(
        self,
        prompts: Sequence[Sequence[int]],
        shared: int,
        *,
        max_new_tokens: int = 0,
        stop: Callable[[int], bool] | None = None,
    ) -> list[GroupOutput]:
        """Run prompts that share their first ``shared`` tokens (0: nothing shared) and return, for each, the
        logits after its last token and, with ``max_new_tokens``, its greedy continuation (up to and including a
        token ``stop`` accepts, llama.cpp's end-of-generation tokens by default; shorter where the context runs
        out)."""
        if any(len(ids) <= shared for ids in prompts):
            raise JudgerlError("each prompt needs a token after the shared prefix")
        longest = max(len(ids) for ids in prompts)
        if longest + 1 > self.n_ctx:
            raise RuntimeError(f"prompt of {longest} tokens does not fit the context of {self.n_ctx}")
        max_new_tokens = min(max_new_tokens, self.n_ctx - longest)
        results: list[GroupOutput | None] = [None] * len(prompts)
        lc.llama_memory_clear(self._memory, True)
        try:
            if shared:
                self._decode([_Entry(t, p, 0, False) for p, t in enumerate(prompts[0][:shared])])
            for run in self._chunks(prompts, shared, max_new_tokens):
                seqs = {member: k + 1 for k, member in enumerate(run)}
                for seq in seqs.values():
                    if shared:
                        lc.llama_memory_seq_cp(self._memory, 0, seq, -1, -1)
                entries: list[_Entry] = []
                for member, seq in seqs.items():
                    suffix = prompts[member][shared:]
                    last = len(suffix) - 1
                    entries += [_Entry(t, shared + k, seq, k == last) for k, t in enumerate(suffix)]
                for member, (logits, state) in zip(run, self._decode(entries), strict=True):
                    results[member] = GroupOutput(logits, state)
                if max_new_tokens:
                    outputs = {m: out for m in run if (out := results[m]) is not None}
                    self._continue_greedily(outputs, prompts, seqs, max_new_tokens, stop or self.is_end_of_generation)
                for seq in seqs.values():
                    lc.llama_memory_seq_rm(self._memory, seq, -1, -1)
        finally:
            lc.llama_memory_clear(self._memory, True)
        return [r for r in results if r is not None]

    def _continue_greedily(
        self,
        outputs: dict[int, GroupOutput],
        prompts: Sequence[Sequence[int]],
        seqs: dict[int, int],
        max_new_tokens: int,
        stop: Callable[[int], bool],
    ) -> None:
        """Greedy decoding of every member at once: each step feeds each live sequence its last chosen token."""
        live = dict.fromkeys(outputs)
        current = {m: outputs[m].logits for m in outputs}
        while live:
            entries: list[_Entry] = []
            for member in list(live):
                token = int(np.argmax(current[member]))
                new = outputs[member].new_tokens
                new.append(token)
                if stop(token) or len(new) >= max_new_tokens:
                    del live[member]
                    continue
                entries.append(_Entry(token, len(prompts[member]) + len(new) - 1, seqs[member], True))
            if not entries:
                return
            for member, (logits, _) in zip(live, self._decode(entries), strict=True):
                current[member] = logits

    def close(self) -> None:
        if self._ctx:
            lc.llama_batch_free(self._batch)
            lc.llama_free(self._ctx)
            lc.llama_model_free(self._model)
            self._ctx = self._model = None
