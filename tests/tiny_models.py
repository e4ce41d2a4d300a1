"""Tiny, randomly initialised judge models built offline for tests: real tokenizer, real architecture, seconds."""

from __future__ import annotations

from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Words the judge tests read as labels must be single tokens, with and without a leading space.
LABEL_WORDS = ["PASS", "FAIL", "Pass", "Fail", "pass", "fail", "A", "B", "YES", "NO"]

_CORPUS = """\
You are a strict judge. Read the task and the response, then answer PASS or FAIL.
The response must state the final answer clearly. Does the response follow the instructions?
Criterion: the answer is correct. Criterion: the answer is concise. Criterion: the tone is polite.
Which response is better, A or B? Response A is shorter. Response B explains its reasoning.
The quick brown fox jumps over the lazy dog. A judge reads each criterion and gives a verdict.
{"verdict": "PASS", "reason": "The answer matches the reference."}
{"verdict": "FAIL", "reason": "The answer is wrong."}
"""


def build_tiny_judge(directory: Path, seed: int = 0) -> Path:
    """Build a tiny Qwen2-architecture chat model and its byte-level BPE tokenizer into ``directory``.

    Deterministic given ``seed``. Weights are random but with a wide initialisation, so next-token
    probabilities depend strongly on the context (tests that compare code paths are then not vacuous)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

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
    tok.train_from_iterator([_CORPUS, *([label_lines] * 50)], trainer=trainer)

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
    fast.save_pretrained(directory)

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(fast),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        initializer_range=0.2,
        tie_word_embeddings=True,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    model.eval()
    model.save_pretrained(directory)
    return directory
