"""Tiny, randomly initialised models built offline for tests in seconds: real tokenizers, real architectures.

One model maker (:func:`tiny_causal_lm`: 2 layers, 4 heads, 2 KV heads, seeded) behind every builder:

- :func:`build_tiny_judge`: a Qwen2 chat model with a byte-level BPE tokenizer whose label words are single
  tokens, and a wide initialisation so next-token probabilities depend strongly on the context (tests that
  compare code paths are then not vacuous); the session fixture ``tiny_judge_dir`` holds one;
- :func:`build_tiny_policy`: a 32-wide Llama with a word-level tokenizer and a minimal chat template, for
  training tests;
- :func:`write_tiny_llama_gguf`: a 16-wide Llama written as an F32 GGUF (the conversion tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Words the judge tests read as labels must be single tokens, with and without a leading space.
LABEL_WORDS = ["PASS", "FAIL", "Pass", "Fail", "pass", "fail", "A", "B", "YES", "NO"]

_BPE_CORPUS = """\
You are a strict judge. Read the task and the response, then answer PASS or FAIL.
The response must state the final answer clearly. Does the response follow the instructions?
Criterion: the answer is correct. Criterion: the answer is concise. Criterion: the tone is polite.
Which response is better, A or B? Response A is shorter. Response B explains its reasoning.
The quick brown fox jumps over the lazy dog. A judge reads each criterion and gives a verdict.
{"verdict": "PASS", "reason": "The answer matches the reference."}
{"verdict": "FAIL", "reason": "The answer is wrong."}
"""


_WORDS_CORPUS = (
    "the quick brown fox jumps over the lazy dog . a b c d e f g h i j k l m n o p q r s t u v w x y z "
    "yes no pass fail hello world answer question write a short poem about cats and dogs , ! ? "
    "one two three four five six seven eight nine ten user assistant system"
)
WORDS_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|> {{ message['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def tiny_causal_lm(
    architecture: Literal["qwen2", "llama"],
    *,
    vocab_size: int,
    hidden_size: int,
    max_positions: int,
    seed: int,
    **config: Any,
) -> Any:
    """A 2-layer causal LM with random weights, deterministic given ``seed``; ``config`` adds config fields."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    classes: dict[str, tuple[Any, Any]] = {
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        "llama": (LlamaConfig, LlamaForCausalLM),
    }
    config_class, model_class = classes[architecture]
    settings = config_class(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        **config,
    )
    torch.manual_seed(seed)
    return model_class(settings).eval()


def _bpe_tokenizer() -> Any:
    """Byte-level BPE trained on a judge-like corpus; every label word is one token, with or without a space."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    label_lines = "".join(f"{w} {w}\n" for w in LABEL_WORDS)
    tok.train_from_iterator([_BPE_CORPUS, *([label_lines] * 50)], trainer=trainer)

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    fast.chat_template = CHATML_TEMPLATE
    for word in LABEL_WORDS:
        for variant in (word, " " + word):
            ids = fast.encode(variant, add_special_tokens=False)
            if len(ids) != 1:
                raise AssertionError(f"tiny tokenizer splits {variant!r} into {ids}")
    return fast


def _words_tokenizer() -> Any:
    """A word-level vocabulary of a small corpus with a minimal chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<unk>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"]
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(
        [_WORDS_CORPUS] * 4, trainers.WordLevelTrainer(special_tokens=special, min_frequency=1)
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>", eos_token="<|end|>"
    )
    fast.chat_template = WORDS_CHAT_TEMPLATE
    return fast


def build_tiny_model(
    directory: str | Path,
    tokenizer: Literal["bpe", "words"],
    architecture: Literal["qwen2", "llama"],
    *,
    hidden_size: int,
    max_positions: int,
    seed: int = 0,
    **config: Any,
) -> Path:
    """Save a tokenizer and a tiny model sized to it into ``directory``; loadable with ``from_pretrained``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fast = _bpe_tokenizer() if tokenizer == "bpe" else _words_tokenizer()
    fast.save_pretrained(directory)
    model = tiny_causal_lm(
        architecture,
        vocab_size=len(fast),
        hidden_size=hidden_size,
        max_positions=max_positions,
        seed=seed,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
        **config,
    )
    model.save_pretrained(directory)
    return directory


def build_tiny_judge(directory: Path, seed: int = 0) -> Path:
    """A tiny Qwen2-architecture chat judge and its byte-level BPE tokenizer in ``directory``."""
    return build_tiny_model(
        directory, "bpe", "qwen2", hidden_size=64, max_positions=4096, seed=seed, initializer_range=0.2
    )


def build_tiny_policy(directory: str | Path, seed: int = 0) -> Path:
    """A tiny Llama policy and its word-level tokenizer in ``directory``."""
    return build_tiny_model(directory, "words", "llama", hidden_size=32, max_positions=256, seed=seed)


def _permute(weight: Any, n_head: int) -> Any:
    """llama.cpp's reordering of q/k rows for its rotary layout (transformers undoes it on load)."""
    return (
        weight.reshape(n_head, 2, weight.shape[0] // n_head // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def write_tiny_llama_gguf(path: Path, seed: int = 0) -> dict[str, Any]:
    """Write a 2-layer, 16-wide llama GGUF (F32, byte-level BPE tokenizer); return its HF state dict as numpy."""
    import gguf
    import numpy as np

    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens += [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["Ġ", "ab", "Ġa"]
    model = tiny_causal_lm(
        "llama",
        vocab_size=len(tokens),
        hidden_size=16,
        max_positions=64,
        seed=seed,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
    )
    state = {name: tensor.detach().numpy().astype(np.float32) for name, tensor in model.state_dict().items()}

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(64)
    writer.add_embedding_length(16)
    writer.add_block_count(2)
    writer.add_feed_forward_length(32)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(4)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_merges(["a b", "Ġ a"])
    writer.add_token_types([3, 3, 3] + [1] * (len(tokens) - 3))
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(2)
    writer.add_chat_template("{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>{% endfor %}")
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    for i in range(2):
        layer = f"model.layers.{i}."
        writer.add_tensor(f"blk.{i}.attn_norm.weight", state[layer + "input_layernorm.weight"])
        writer.add_tensor(f"blk.{i}.attn_q.weight", _permute(state[layer + "self_attn.q_proj.weight"], 4))
        writer.add_tensor(f"blk.{i}.attn_k.weight", _permute(state[layer + "self_attn.k_proj.weight"], 2))
        writer.add_tensor(f"blk.{i}.attn_v.weight", state[layer + "self_attn.v_proj.weight"])
        writer.add_tensor(f"blk.{i}.attn_output.weight", state[layer + "self_attn.o_proj.weight"])
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", state[layer + "post_attention_layernorm.weight"])
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", state[layer + "mlp.gate_proj.weight"])
        writer.add_tensor(f"blk.{i}.ffn_up.weight", state[layer + "mlp.up_proj.weight"])
        writer.add_tensor(f"blk.{i}.ffn_down.weight", state[layer + "mlp.down_proj.weight"])
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    writer.add_tensor("output.weight", state["lm_head.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return state


def write_tiny_judge_gguf(hf_dir: Path, path: Path) -> Path:
    """Write the tiny judge of ``hf_dir`` (:func:`build_tiny_judge`) as an F32 qwen2 GGUF with the same vocabulary,
    merges and chat template, so llama.cpp and transformers run one model on the same token ids."""
    import json

    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((hf_dir / "config.json").read_text())
    spec = json.loads((hf_dir / "tokenizer.json").read_text())
    state = {name: tensor.astype(np.float32) for name, tensor in load_file(str(hf_dir / "model.safetensors")).items()}
    vocab: dict[str, int] = dict(spec["model"]["vocab"])
    for added in spec.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
    tokens = sorted(vocab, key=vocab.__getitem__)
    assert [vocab[t] for t in tokens] == list(range(len(tokens))), "tiny vocabulary ids must be dense"
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    rope = (config.get("rope_parameters") or {}).get("rope_theta", config.get("rope_theta", 10000.0))

    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(float(rope))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")  # the GPT-2 split, as the tiny tokenizer's ByteLevel pre-tokenizer
    writer.add_token_list(tokens)
    writer.add_token_merges(merges)
    writer.add_token_types([3 if t in SPECIAL_TOKENS else 1 for t in tokens])
    writer.add_eos_token_id(vocab["<|im_end|>"])
    writer.add_pad_token_id(vocab["<|endoftext|>"])
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE)
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    for i in range(config["num_hidden_layers"]):
        layer = f"model.layers.{i}."
        names = {
            "attn_norm.weight": "input_layernorm.weight",
            "attn_q.weight": "self_attn.q_proj.weight",
            "attn_q.bias": "self_attn.q_proj.bias",
            "attn_k.weight": "self_attn.k_proj.weight",
            "attn_k.bias": "self_attn.k_proj.bias",
            "attn_v.weight": "self_attn.v_proj.weight",
            "attn_v.bias": "self_attn.v_proj.bias",
            "attn_output.weight": "self_attn.o_proj.weight",
            "ffn_norm.weight": "post_attention_layernorm.weight",
            "ffn_gate.weight": "mlp.gate_proj.weight",
            "ffn_up.weight": "mlp.up_proj.weight",
            "ffn_down.weight": "mlp.down_proj.weight",
        }
        for gguf_name, hf_name in names.items():
            writer.add_tensor(f"blk.{i}.{gguf_name}", state[layer + hf_name])
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    writer.add_tensor("output.weight", state.get("lm_head.weight", state["model.embed_tokens.weight"]))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
