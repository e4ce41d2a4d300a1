"""`judgerl models list|pull` through click's CliRunner (pull itself is replaced: no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from judgerl.cli.main import cli, main
from judgerl.cli.models_cmd import human_size
from judgerl.models import catalog as models


@pytest.fixture(autouse=True)
def judgerl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JUDGERL_HOME", str(tmp_path))
    return tmp_path


def _fake_pulled(home: Path, name: str) -> Path:
    """What a finished pull leaves: hf/config.json and a valid manifest."""
    folder = home / "models" / name
    (folder / "hf").mkdir(parents=True)
    (folder / "hf" / "config.json").write_text("{}")
    manifest = {
        "name": name,
        "source": "catalog",
        "sha256": models.CATALOG[name].sha256,
        "gguf_file": models.CATALOG[name].gguf_file,
        "gguf_bytes": 1,
        "conversion": {"architecture": "X", "dtype": "float32", "parameters": 1, "seconds": 1.0, "versions": {}},
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    (folder / "manifest.json").write_text(models.Manifest.model_validate(manifest).model_dump_json())
    return folder / "hf"


def test_models_is_registered() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0 and "models" in result.output


def test_list_shows_catalog_and_pulled_state(judgerl_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hf = _fake_pulled(judgerl_home, "smollm2-135m")
    monkeypatch.setenv("COLUMNS", "250")  # rich's width; keeps each row on one line
    result = CliRunner().invoke(cli, ["models", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") >= 5}
    assert set(lines) == set(models.CATALOG)
    assert "yes" in lines["smollm2-135m"] and str(hf) in lines["smollm2-135m"]
    assert "policy (default)" in lines["smollm2-135m"]
    assert "judge (default)" in lines["qwen2.5-coder-1.5b"] and " no " in lines["qwen2.5-coder-1.5b"]
    assert "judge (default)" not in lines["qwen2.5-coder-0.5b"] and "judge" in lines["qwen2.5-coder-0.5b"]
    assert "1.12 GB" in lines["qwen2.5-coder-1.5b"]


def test_pull_calls_the_library_once_per_name(monkeypatch: pytest.MonkeyPatch, judgerl_home: Path) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def fake_pull(name: str, **kwargs: Any) -> Path:
        calls.append((name, kwargs))
        return judgerl_home / "models" / name / "hf"

    monkeypatch.setattr(models, "pull", fake_pull)
    result = CliRunner().invoke(
        cli, ["models", "pull", "smollm2-135m", "qwen2.5-coder-0.5b", "smollm2-135m", "--force"]
    )
    assert result.exit_code == 0, result.output
    assert [name for name, _ in calls] == ["smollm2-135m", "qwen2.5-coder-0.5b"]
    assert calls[0][1] == {"force": True, "keep_gguf": False}
    assert "smollm2-135m: pulled at" in result.output


def test_pull_unknown_name_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(models, "pull", lambda *a, **k: pytest.fail("nothing may be downloaded"))
    monkeypatch.setattr("sys.argv", ["judgerl", "models", "pull", "smollm2-135m", "nope"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'nope'; the catalog has: ") and err.count("\n") == 1


def test_pull_needs_a_name() -> None:
    result = CliRunner().invoke(cli, ["models", "pull"])
    assert result.exit_code == 2 and "Missing argument" in result.output


def test_human_size() -> None:
    assert human_size(98_362_432) == "98 MB"
    assert human_size(1_117_320_768) == "1.12 GB"
    assert human_size(25_472) == "25 kB"
