"""A tiny random causal LM with a real tokenizer, built offline in well under a second, for training tests.

The tokenizer is a word-level vocabulary trained with the `tokenizers` library on a small corpus, wrapped as a
fast tokenizer with a minimal chat template; the model is a 2-layer Llama with hidden size 32.
"""

from __future__ import annotations

from pathlib import Path

_CORPUS = (
    "the quick brown fox jumps over the lazy dog . a b c d e f g h i j k l m n o p q r s t u v w x y z "
    "yes no pass fail hello world answer question write a short poem about cats and dogs , ! ? "
    "one two three four five six seven eight nine ten user assistant system"
)
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|> {{ message['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def build_tiny_tokenizer(directory: str | Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<unk>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"]
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator([_CORPUS] * 4, trainers.WordLevelTrainer(special_tokens=special, min_frequency=1))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>", eos_token="<|end|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    directory = Path(directory)
    fast.save_pretrained(directory)
    return directory


def build_tiny_policy(directory: str | Path, seed: int = 0) -> Path:
    """Save a tiny Llama and its tokenizer into ``directory``; loadable with ``from_pretrained``."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    build_tiny_tokenizer(directory)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory
