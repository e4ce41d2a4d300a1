"""Build a deployable AWS Lambda zip for the Nova RFT reward handler (``judgerl lambda package``).

The zip holds the judgerl package, the handler's dependencies built for the Lambda platform (pydantic, PyYAML;
boto3 only when asked, since the Python runtime ships one), the rubric or the OpenAI grader file, and
``judgerl_lambda/config.json`` with the judge configuration and failure policy, which environment variables can
still override. The zip is
reproducible: files in sorted order with fixed timestamps. Handler: ``judgerl.serve.lambda_handler.handler``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import judgerl
from judgerl.errors import JudgerlError
from judgerl.judges.calibration import calibration_path
from judgerl.judges.outcome import UnscoredPolicy
from judgerl.judges.trust import trust_path
from judgerl.judges.tuned import tuned_path
from judgerl.serve.config import ServeConfig
from judgerl.serve.lambda_handler import BUNDLED_CONFIG

logger = logging.getLogger(__name__)

HANDLER = "judgerl.serve.lambda_handler.handler"
HANDLER_REQUIREMENTS = ("pydantic>=2.7", "pyyaml>=6")
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # zipped, for a direct upload; larger zips go through S3
UNZIPPED_LIMIT = 250 * 1024 * 1024
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP = {"__pycache__", ".mypy_cache", ".pytest_cache"}


@dataclass(frozen=True)
class PackageReport:
    path: Path
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    warnings: tuple[str, ...]


def build_lambda_zip(
    out: str | Path,
    config: ServeConfig,
    policy: UnscoredPolicy,
    *,
    install_dependencies: bool = True,
    platform: str = "manylinux2014_x86_64",
    python_version: str = "3.12",
    include_boto3: bool = False,
    requirements: tuple[str, ...] = (),
    deadline_margin_s: float = 10.0,
) -> PackageReport:
    """Write the zip to ``out``. ``install_dependencies=False`` leaves them out (a Lambda layer provides them)."""
    out = Path(out)
    if not 0 <= deadline_margin_s < 900:  # also refuses nan
        raise JudgerlError(f"--deadline-margin={deadline_margin_s!r}: expected seconds from 0 to 900")
    with tempfile.TemporaryDirectory(prefix="judgerl-lambda-") as tmp:
        staging = Path(tmp)
        if install_dependencies:
            wanted = [*HANDLER_REQUIREMENTS, *(["boto3>=1.34"] if include_boto3 else []), *requirements]
            _pip_install(staging, wanted, platform, python_version)
        package_dir = Path(judgerl.__file__).parent
        shutil.copytree(package_dir, staging / "judgerl", ignore=shutil.ignore_patterns(*_SKIP, "*.pyc"))
        bundle = staging / BUNDLED_CONFIG.parent
        bundle.mkdir()
        judge = config.model_dump(mode="json")
        refuse_secrets(judge)
        notes: list[str] = []
        if config.rubric is not None and not config.rubric.startswith("s3://"):
            judge["rubric"] = _bundle_rubric(Path(config.rubric), bundle)
        if config.grader is not None:
            judge["grader"], notes = _bundle_grader(Path(config.grader), bundle, requirements)
        document = {"judge": judge, "policy": policy.model_dump(), "deadline_margin_s": deadline_margin_s}
        (staging / BUNDLED_CONFIG).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        report = _write_zip(staging, out)
        return dataclasses.replace(report, warnings=(*notes, *report.warnings))


_SECRET_NAME = re.compile(r"(^|[_-])(api[_-]?key|key|secret|token|password|passwd|credentials?|authorization)$", re.I)


def refuse_secrets(settings: Any, where: str = "judge") -> None:
    """Refuse a setting whose name says it is a secret: the zip (and config.json in it) is not a secret store."""
    if isinstance(settings, dict):
        for name, value in settings.items():
            if _SECRET_NAME.search(str(name)) and value not in (None, "", {}, []):
                raise JudgerlError(
                    f"{where}.{name}: looks like a secret and would be written in plain text into the zip; set it on "
                    "the function as an environment variable (e.g. OPENAI_API_KEY) or read it from AWS Secrets Manager"
                )
            refuse_secrets(value, f"{where}.{name}")


def _bundle_rubric(rubric: Path, bundle: Path) -> str:
    if not rubric.is_file():
        raise JudgerlError(f"{rubric}: rubric file not found (give a file to bundle, or an s3:// URI)")
    from judgerl.rubric import Rubric

    Rubric.load(rubric)  # refuse to package a rubric that will not load in the Lambda
    shutil.copy2(rubric, bundle / rubric.name)
    for sidecar in (calibration_path(rubric), trust_path(rubric), tuned_path(rubric)):  # thresholds, trust, tuned way
        if sidecar.exists():
            shutil.copy2(sidecar, bundle / sidecar.name)
    return rubric.name


#: the library each text_similarity metric imports (the judgerl[graders] extra)
METRIC_PACKAGES = {
    "fuzzy_match": "rapidfuzz",
    "bleu": "sacrebleu",
    "gleu": "nltk",
    "meteor": "nltk",
    **{f"rouge_{n}": "rouge-score" for n in ("1", "2", "3", "4", "5", "l")},
}


def _bundle_grader(grader: Path, bundle: Path, requirements: tuple[str, ...]) -> tuple[str, list[str]]:
    """Copy a grader file that loads into the bundle; say which metric libraries it needs that are not asked for."""
    from judgerl.graders import load_spec
    from judgerl.graders.spec import MultiSpec, TextSimilaritySpec

    spec = load_spec(grader)  # refuse to package a grader that will not load in the Lambda
    shutil.copy2(grader, bundle / grader.name)
    leaves = list(spec.graders.values()) if isinstance(spec, MultiSpec) else [spec]
    metrics = {leaf.evaluation_metric for leaf in leaves if isinstance(leaf, TextSimilaritySpec)}
    wanted = sorted({METRIC_PACKAGES[m] for m in metrics if m in METRIC_PACKAGES})
    asked = " ".join(requirements).lower()
    missing = [name for name in wanted if name not in asked]
    notes = []
    if missing:
        flags = " ".join(f"--requirement {name}" for name in missing)
        notes.append(f"the grader's text_similarity metrics import {', '.join(missing)}: add {flags} (or a layer)")
    return grader.name, notes


def _pip_install(target: Path, requirements: list[str], platform: str, python_version: str) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--platform",
        platform,
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        *requirements,
    ]
    logger.info("installing Lambda dependencies: %s", " ".join(requirements))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["pip failed"]
        raise JudgerlError(
            f"installing the Lambda's dependencies for {platform}/cp{python_version} failed: {last[0]} "
            "(use --no-deps and a Lambda layer, or check the network)"
        )
    for leftover in target.glob("*.dist-info/RECORD"):
        leftover.unlink()  # absolute-path free and reproducible; the runtime does not need it


def _write_zip(staging: Path, out: Path) -> PackageReport:
    out.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in staging.rglob("*") if p.is_file() and not (_SKIP & set(p.parts)))
    unzipped = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(staging).as_posix(), date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data)
    zipped = out.stat().st_size
    warnings = []
    if zipped > DIRECT_UPLOAD_LIMIT:
        warnings.append(f"the zip is {zipped / 2**20:.1f} MiB: upload it through S3 (direct uploads stop at 50 MiB)")
    if unzipped > UNZIPPED_LIMIT:
        warnings.append(f"unzipped it is {unzipped / 2**20:.0f} MiB, over Lambda's 250 MiB: use a container image")
    return PackageReport(out, zipped, unzipped, len(files), tuple(warnings))


def describe(report: PackageReport) -> dict[str, Any]:
    return {
        "zip": str(report.path),
        "handler": HANDLER,
        "zipped_mib": round(report.zipped_bytes / 2**20, 2),
        "unzipped_mib": round(report.unzipped_bytes / 2**20, 2),
        "files": report.files,
        "warnings": list(report.warnings),
    }
