"""Checkpoint averaging: the averaged adapter, merged, is the base plus the (weighted) mean of the checkpoints'
merged updates, on a tiny random Llama with LoRA on attention and MLP layers; and a user's mistake is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judgerl.errors import JudgerlError
from judgerl.train.averaging import SOURCES_FILE, average_adapters, run_checkpoints

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")


def _base() -> object:
    from tests.support.tiny_models import tiny_causal_lm

    return tiny_causal_lm("llama", vocab_size=64, hidden_size=32, max_positions=64, seed=3)


def _adapter(folder: Path, seed: int, **lora: object) -> Path:
    """A LoRA adapter with random A and B (B is zero at initialisation: that would make every average trivially 0)."""
    settings = {"r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj", "down_proj"], **lora}
    model = peft.get_peft_model(_base(), peft.LoraConfig(**settings))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
    model.save_pretrained(str(folder))
    return folder


def _merged(folder: Path) -> dict[str, object]:
    model = peft.PeftModel.from_pretrained(_base(), str(folder)).merge_and_unload()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 5.0]])
@pytest.mark.parametrize("rslora", [False, True])
def test_average_merges_to_the_mean_of_the_updates(tmp_path: Path, weights: list[float] | None, rslora: bool) -> None:
    folders = [_adapter(tmp_path / f"checkpoint-{5 * (i + 1)}", seed=i, use_rslora=rslora) for i in range(3)]
    result = average_adapters(folders, tmp_path / "average", weights)
    base = {k: v.detach().clone() for k, v in _base().state_dict().items()}
    shares = [1 / 3] * 3 if weights is None else [w / sum(weights) for w in weights]
    merged = [_merged(f) for f in folders]
    expected = {k: base[k] + sum(s * (m[k] - base[k]) for s, m in zip(shares, merged, strict=True)) for k in base}
    averaged = _merged(tmp_path / "average")
    changed = [k for k in base if not torch.equal(merged[0][k], base[k])]
    assert changed, "the adapters must change some weights for the test to mean anything"
    for key in base:
        assert torch.allclose(averaged[key], expected[key], atol=1e-5), key
    # not merely one checkpoint, nor their sum: the mean differs from each source on every changed weight
    assert all(not torch.allclose(averaged[k], merged[0][k], atol=1e-4) for k in changed)
    assert result.rank == 6 and result.weights == pytest.approx(shares)
    sources = json.loads((tmp_path / "average" / SOURCES_FILE).read_text())
    assert sources["sources"] == [str(f) for f in folders]


def test_run_checkpoints_by_step_and_range(tmp_path: Path) -> None:
    for step in (20, 5, 15, 10):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-x").mkdir()
    assert [p.name for p in run_checkpoints(tmp_path)] == [f"checkpoint-{s}" for s in (5, 10, 15, 20)]
    assert [p.name for p in run_checkpoints(tmp_path, 10, 15)] == ["checkpoint-10", "checkpoint-15"]
    with pytest.raises(JudgerlError, match="no checkpoint-N folders at steps 25-end"):
        run_checkpoints(tmp_path, 25)


def test_mismatched_checkpoints_are_one_line_errors(tmp_path: Path) -> None:
    one = _adapter(tmp_path / "one", seed=1)
    other_rank = _adapter(tmp_path / "rank4", seed=2, r=4)
    with pytest.raises(JudgerlError, match=r"rank4/adapter_config.json: r is 4, .* has 2"):
        average_adapters([one, other_rank], tmp_path / "out")
    with pytest.raises(JudgerlError, match="at least two checkpoints"):
        average_adapters([one], tmp_path / "out")
    with pytest.raises(JudgerlError, match="is one of the checkpoints"):
        average_adapters([one, _adapter(tmp_path / "two", seed=3)], one)
    with pytest.raises(JudgerlError, match="2 weights for 3 checkpoints"):
        average_adapters([one, tmp_path / "two", _adapter(tmp_path / "three", seed=4)], tmp_path / "out", [1, 2])
    with pytest.raises(JudgerlError, match=r"no adapter_config\.json"):
        average_adapters([one, tmp_path], tmp_path / "out")
    dora = _adapter(tmp_path / "dora", seed=5, use_dora=True)
    with pytest.raises(JudgerlError, match="use_dora is true"):
        average_adapters([dora, dora], tmp_path / "out")


def test_cli_averages_a_run_folders_checkpoints(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from judgerl.cli.main import cli

    run = tmp_path / "run"
    for index, step in enumerate((5, 10, 15)):
        _adapter(run / f"checkpoint-{step}", seed=index)
    result = CliRunner().invoke(cli, ["average", str(run), "--from-step", "10"])
    assert result.exit_code == 0, result.output
    assert "averaged 2 checkpoints (step and weight: 10 (0.50), 15 (0.50))" in result.output
    out = run / "average-10-15"
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 4
    assert json.loads((out / SOURCES_FILE).read_text())["sources"] == [
        str(run / "checkpoint-10"),
        str(run / "checkpoint-15"),
    ]
    bad = CliRunner().invoke(cli, ["average", str(run / "checkpoint-5"), str(run / "checkpoint-10")])
    assert isinstance(bad.exception, JudgerlError) and "--output: required" in str(bad.exception)
    bad = CliRunner().invoke(cli, ["average", str(run), "--weights", "1,x"])
    assert isinstance(bad.exception, JudgerlError) and "--weights '1,x'" in str(bad.exception)
