"""Test helpers: fake wheels with a RECORD (the tiny GGUF is in tiny_models.py)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(
    directory: Path,
    package: str,
    version: str,
    files: dict[str, bytes],
    *,
    record_overrides: dict[str, str] | None = None,
) -> Path:
    """A pure-Python wheel holding ``files``, with METADATA, WHEEL and a RECORD of their sha256 (or overrides)."""
    dist = package.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: judgerl-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    overrides = record_overrides or {}
    rows = [f"{name},{overrides.get(name, record_hash(data))},{len(data)}" for name, data in contents.items()]
    rows.append(f"{info}/RECORD,,")
    path = directory / f"{dist}-{version}-py3-none-any.whl"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in contents.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{info}/RECORD", "\n".join(rows) + "\n")
    return path
