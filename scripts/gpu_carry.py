"""Prepare ``.gpu-carry/`` for benchmarks/gpu_suite.py on a machine without network (``make gpu-carry``).

The GPU machine has its own Python with torch, transformers, peft and accelerate; this folder brings the rest:
wheels of trl and of judgerl's own dependencies (at the versions installed in this venv; compiled ones for
CPython 3.10-3.13 on x86-64 Linux, since that machine's Python version is not known here) and the packaged Qwen
tokenizer's files (no weights). pandas and pyarrow are not carried (pyarrow alone is about 40 MiB per Python
version); the suite stands in for them when they are missing. Fails when the folder passes the limit.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Pure-Python wheels, at this venv's versions: trl and what `import judgerl` and judgerl.train need beyond torch,
# transformers, peft and accelerate (pyyaml, numpy and requests come with transformers); datasets with its pure
# dependencies, used where the machine has pandas and pyarrow.
PURE = [
    "trl",
    "pydantic",
    "annotated-types",
    "typing-inspection",
    "typing-extensions",
    "click",
    "rich",
    "markdown-it-py",
    "mdurl",
    "pygments",
    "datasets",
    "dill",
    "fsspec",
]
# Compiled (or per-Python-version) wheels: one per CPython version.
PER_PYTHON = ["pydantic-core", "xxhash", "multiprocess"]
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
TOKENIZER_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "generation_config.json",
    "chat_template.jinja",
]


def pin(name: str) -> str:
    return f"{name}=={importlib.metadata.version(name)}"


def pip_download(requirements: list[str], dest: Path, extra: list[str]) -> None:
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps"]
    subprocess.run([*command, *extra, "-d", str(dest), *requirements], check=True)


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".gpu-carry")
    parser.add_argument("--tokenizer", type=Path, required=True, help="the packaged model's hf/ folder")
    parser.add_argument("--max-mib", type=float, default=60.0)
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    wheels = args.out / "wheels"
    wheels.mkdir(parents=True)
    pip_download([pin(name) for name in PURE], wheels, ["--only-binary=:all:"])
    for version in PYTHONS:
        platform = ["--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64"]
        options = ["--only-binary=:all:", "--python-version", version, "--implementation", "cp", *platform]
        pip_download([pin(name) for name in PER_PYTHON], wheels, options)
    tokenizer = args.out / "tokenizer"
    tokenizer.mkdir()
    copied = [name for name in TOKENIZER_FILES if (args.tokenizer / name).exists()]
    if "tokenizer.json" not in copied and "vocab.json" not in copied:
        raise SystemExit(f"no tokenizer files in {args.tokenizer}")
    for name in copied:
        shutil.copyfile(args.tokenizer / name, tokenizer / name)
    size = folder_mib(args.out)
    count = len(list(wheels.glob("*.whl")))
    print(f"{args.out}: {size:.1f} MiB ({count} wheels, tokenizer: {', '.join(copied)})")
    if size > args.max_mib:
        raise SystemExit(f"{args.out} is {size:.1f} MiB, over the {args.max_mib:.0f} MiB limit")


if __name__ == "__main__":
    main()
