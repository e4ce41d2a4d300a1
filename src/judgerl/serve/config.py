"""ServeConfig: a judge spec plus the rubric (or OpenAI grader file) to serve, from code, a file or env vars.

The serving doors (HTTP server, Lambda, verl) build their judge from one of these, so a rubric and judge behave
the same behind every door; with no JUDGERL_MODEL the transformers backend runs the catalog's default judge, as
the CLI does. Environment variables (for the Lambda and for verl workers)::

    JUDGERL_RUBRIC            rubric path (relative paths also tried under $LAMBDA_TASK_ROOT) or s3://bucket/key
    JUDGERL_GRADER            OpenAI grader JSON file, instead of a rubric (relative paths as for the rubric)
    JUDGERL_PAIRWISE          1/true to also build the pairwise judge
    JUDGERL_BACKEND           backend name, or 'package.module:Factory' for a backend of your own
    JUDGERL_MODEL             the judge model (passed to the backend as model=...)
    JUDGERL_REGION            AWS region (bedrock falls back to AWS_REGION, which Lambda sets)
    JUDGERL_BACKEND_OPTIONS   JSON object of further backend options
    JUDGERL_MODE              logprob | generate
    JUDGERL_SCORE             soft | hard
    JUDGERL_RATIONALES        none | failures | all | sample:<fraction>
    JUDGERL_CACHE             SQLite verdict cache path
    JUDGERL_CONCURRENCY       samples judged at once
    JUDGERL_TUNED             false: ignore the way of asking `judgerl tune` saved (<rubric>.tuned.json)
    JUDGERL_CASCADE           a judge cascade: a stages file (YAML/JSON; relative paths also tried under
                              $LAMBDA_TASK_ROOT) or the stages as a JSON list; see docs/cascades.md
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from judgerl.backends.base import JudgeBackend
from judgerl.errors import JudgerlError, RubricError, describe_validation_error
from judgerl.judges.cache import VerdictCache
from judgerl.judges.calibration import calibration_path
from judgerl.judges.cascade import PairJudging, RubricJudging
from judgerl.judges.rationales import RationalePolicy
from judgerl.judges.sample_judging import SampleJudging
from judgerl.judges.spec import JudgeSpec, load_cascade
from judgerl.judges.trust import TrustNotice, announce_trust, trust_path
from judgerl.judges.tuned import tuned_path
from judgerl.rubric import Rubric

logger = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ServeConfig(JudgeSpec):
    """A judge spec plus what the serving doors judge with it: the rubric or an OpenAI grader file, and whether
    to judge pairs too. A grader's model graders (score_model, label_model) run on this spec's backend."""

    rubric: str | None = Field(default=None, description="Rubric file (YAML/JSON) or s3://bucket/key.")
    grader: str | None = Field(
        default=None, description="OpenAI grader JSON file to score with instead of a rubric (docs/openai-graders.md)."
    )
    pairwise: bool = Field(default=False, description="Also build a pairwise judge (needs token probabilities).")

    @model_validator(mode="after")
    def _rubric_or_grader(self) -> ServeConfig:
        if (self.rubric is None) == (self.grader is None):
            raise ValueError("give exactly one of 'rubric' (a rubric file) or 'grader' (an OpenAI grader file)")
        if self.grader is not None and self.pairwise:
            raise ValueError("'pairwise' judges with a rubric's instructions; it cannot be used with a grader")
        return self

    @field_validator("rationales")
    @classmethod
    def _rationales_valid(cls, value: str) -> str:
        """Serving names the policy the way it is logged and bundled: normalised (``sample:0.50`` -> ``sample:0.5``)."""
        try:
            return str(RationalePolicy.parse(value))
        except JudgerlError as exc:
            raise ValueError(str(exc)) from None

    # ---- loading -------------------------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "judge config") -> ServeConfig:
        """Validate a mapping; a bad field is a JudgerlError naming the source and the field."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise JudgerlError(f"{source}: {describe_validation_error(exc)}") from None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> ServeConfig:
        """``defaults`` (e.g. a config bundled in the Lambda zip), then JUDGERL_* environment variables, then
        ``overrides`` (arguments given in code, e.g. verl's reward_kwargs)."""
        env = os.environ if environ is None else environ
        data: dict[str, Any] = dict(defaults or {})
        for name, (field, kind) in ENV_VARS.items():
            if name in env:
                data[field] = _parse_env(name, env[name], kind)
        data.update(overrides or {})
        if not data.get("rubric") and not data.get("grader"):
            raise JudgerlError(
                "JUDGERL_RUBRIC is not set: point it at a rubric file in the package or an s3:// URI "
                "(or JUDGERL_GRADER at an OpenAI grader file)"
            )
        region_given = data.get("region") or (data.get("backend_options") or data.get("options") or {}).get("region")
        if not region_given and data.get("backend") == "bedrock":
            data["region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
        return cls.from_mapping(data, source="JUDGERL_* environment")

    # ---- building ------------------------------------------------------------------------------------------

    def load_rubric(self) -> Rubric:
        if self.rubric is None:
            raise JudgerlError("this judge scores with a grader file, not a rubric")
        return load_rubric(self.rubric)

    def build(self) -> BuiltJudge:
        """Load the rubric, create the backend once, and build the judge(s) on it; or load the grader, with a
        backend only when it has a model grader."""
        if self.grader is not None:
            grader = self.grader_judge(task_path(self.grader))
            return BuiltJudge(self, grader.backend, grader, None, None)
        rubric = self.load_rubric()
        backend = self.build_backend()
        cache = self.open_cache()
        rubric_judge = self.rubric_judge(rubric, backend, cache=cache)
        pairwise_judge = None
        if self.pairwise:
            pairwise_judge = self.pairwise_judge(backend, instructions=rubric.instructions, cache=cache)
        return BuiltJudge(self, backend, rubric_judge, pairwise_judge, cache, rubric_judging=rubric_judge)


@dataclass
class BuiltJudge:
    """A config's judge (a rubric judge or a grader), its backend (None for a grader without model graders) and
    the pairwise judge, sharing one backend and one cache."""

    config: ServeConfig
    backend: JudgeBackend | None
    judge: SampleJudging
    pairwise_judge: PairJudging | None
    cache: VerdictCache | None
    #: the rubric judge or cascade, when the judge scores with a rubric
    rubric_judging: RubricJudging | None = None

    @property
    def rubric_judge(self) -> RubricJudging:
        """The rubric judge or cascade (a JudgerlError when this judge is a grader: use ``judge``)."""
        if self.rubric_judging is None:
            raise JudgerlError(f"{self.config.grader}: this server scores with a grader file, not a rubric")
        return self.rubric_judging

    @property
    def rubric(self) -> Rubric:
        return self.rubric_judge.rubric

    @property
    def name(self) -> str:
        return self.judge.name

    @property
    def criterion_names(self) -> list[str]:
        return self.judge.criterion_names

    @property
    def model_id(self) -> str:
        return self.backend.model_id if self.backend is not None else "none (the grader calls no model)"

    def announce_trust(self, emit: Callable[[str], None] | None = None) -> TrustNotice | None:
        """Show how well this judge was validated on its rubric (or grader file), or warn that it was not;
        None for a grader that calls no model."""
        if self.backend is None:
            return None
        source = self.config.grader if self.rubric_judging is None else self.rubric_judging.rubric.source
        return announce_trust(source, self.backend.model_id, emit)

    def describe(self) -> str:
        """One line for start-up logs: what scores, and on what."""
        return f"{self.judge.describe()}, judge {self.model_id}"

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
        if self.cache is not None:
            self.cache.close()


# ---- environment parsing -----------------------------------------------------------------------------------

#: environment variable -> (ServeConfig field, how to parse it)
ENV_VARS: dict[str, tuple[str, str]] = {
    "JUDGERL_RUBRIC": ("rubric", "str"),
    "JUDGERL_GRADER": ("grader", "str"),
    "JUDGERL_PAIRWISE": ("pairwise", "bool"),
    "JUDGERL_BACKEND": ("backend", "str"),
    "JUDGERL_MODEL": ("model", "str"),
    "JUDGERL_REGION": ("region", "str"),
    "JUDGERL_BACKEND_OPTIONS": ("backend_options", "json"),
    "JUDGERL_MODE": ("mode", "str"),
    "JUDGERL_SCORE": ("score", "str"),
    "JUDGERL_RATIONALES": ("rationales", "str"),
    "JUDGERL_CACHE": ("cache_path", "str"),
    "JUDGERL_CONCURRENCY": ("concurrency", "int"),
    "JUDGERL_TIE_MARGIN": ("tie_margin", "float"),
    "JUDGERL_TUNED": ("tuned", "bool"),
    "JUDGERL_CASCADE": ("cascade", "cascade"),
}


def _parse_env(name: str, raw: str, kind: str) -> Any:
    value = raw.strip()
    if kind == "bool":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise JudgerlError(f"{name}={raw!r}: expected 1/0, true/false, yes/no")
    if kind == "int":
        try:
            return int(value)
        except ValueError:
            raise JudgerlError(f"{name}={raw!r}: expected a whole number") from None
    if kind == "float":
        try:
            return float(value)
        except ValueError:
            raise JudgerlError(f"{name}={raw!r}: expected a number") from None
    if kind == "cascade":
        return _cascade_stages(name, value)
    if kind == "json":
        try:
            parsed = json.loads(value) if value else {}
        except json.JSONDecodeError as exc:
            raise JudgerlError(f"{name}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(parsed, dict):
            raise JudgerlError(f'{name}: expected a JSON object such as {{"max_input_tokens": 4096}}')
        return parsed
    return value or None


def _cascade_stages(name: str, value: str) -> list[Any]:
    """JUDGERL_CASCADE: the stages as a JSON list, or a stages file (under $LAMBDA_TASK_ROOT too)."""
    if value.startswith("["):
        try:
            stages = json.loads(value)
        except json.JSONDecodeError as exc:
            raise JudgerlError(f"{name}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        return list(stages)
    path = Path(value).expanduser()
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    if not path.is_absolute() and not path.exists() and task_root and (Path(task_root) / path).exists():
        path = Path(task_root) / path
    if not path.exists():
        raise JudgerlError(f"{name}={value!r}: no such cascade file (give a stages file or a JSON list of stages)")
    return [stage.model_dump(exclude_unset=True) for stage in load_cascade(path)]


# ---- rubric sources ----------------------------------------------------------------------------------------


def load_rubric(location: str) -> Rubric:
    """A rubric from a file path or an s3:// URI. Relative paths are also tried under $LAMBDA_TASK_ROOT, where a
    Lambda zip's files live."""
    if location.startswith("s3://"):
        return Rubric.load(fetch_s3_rubric(location))
    return Rubric.load(task_path(location))


def task_path(location: str) -> Path:
    """A file path; a relative one that does not exist here is tried under $LAMBDA_TASK_ROOT (the Lambda zip)."""
    path = Path(location).expanduser()
    if not path.is_absolute() and not path.exists():
        task_root = os.environ.get("LAMBDA_TASK_ROOT")
        if task_root and (Path(task_root) / path).exists():
            path = Path(task_root) / path
    return path


_private_root: Path | None = None


def _rubric_root(cache_dir: str | Path | None) -> Path:
    """A private folder (0700): by default one made afresh per process under $TMPDIR with an unpredictable name,
    so another user can neither read the rubric nor plant one where judgerl will look for it."""
    global _private_root
    if cache_dir is not None:
        root = Path(cache_dir)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return root
    if _private_root is None or not _private_root.is_dir():
        _private_root = Path(tempfile.mkdtemp(prefix="judgerl-rubrics-"))
    return _private_root


def fetch_s3_rubric(uri: str, client: Any = None, cache_dir: str | Path | None = None) -> Path:
    """Download an S3 rubric (and its calibration and trust files, when there are some) into a private folder.

    Lambda keeps /tmp between warm invocations: a rubric already fetched is asked for again only if its ETag
    changed (a conditional GET), so an edited rubric is picked up and an unchanged one costs no download."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key or key.endswith("/"):
        raise RubricError(f"{uri}: an S3 rubric URI must look like s3://bucket/path/rubric.yaml")
    local = _rubric_root(cache_dir) / hashlib.sha256(uri.encode()).hexdigest()[:16] / Path(key).name
    etag_file = local.with_name(local.name + ".etag")
    known = etag_file.read_text() if local.exists() and etag_file.exists() else None
    if client is None:
        try:
            import boto3
        except ImportError:
            raise JudgerlError(f"{uri}: reading a rubric from S3 needs boto3: pip install 'judgerl[bedrock]'") from None
        client = boto3.client("s3")
    fetched = _s3_get(client, bucket, key, uri, required=True, if_none_match=known)
    if fetched is None:  # 304: the copy here is the current object
        return local
    body, etag = fetched
    local.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    local.write_bytes(body)
    # thresholds, the judge's validation and its tuned way of asking travel with it
    for sidecar_path in (calibration_path, trust_path, tuned_path):
        sidecar_key = str(Path(key).with_name(sidecar_path(key).name))
        try:
            sidecar = _s3_get(client, bucket, sidecar_key, uri, required=False)
        except RubricError as exc:
            if sidecar_path is calibration_path:
                raise
            logger.warning("%s; going on without it", exc)  # a warning, not a stop: trust and tuning are optional
            continue
        copy = sidecar_path(local)
        if sidecar is not None:
            copy.write_bytes(sidecar[0])
        elif copy.exists():
            copy.unlink()  # the object lost this file since the last fetch
    if etag:
        etag_file.write_text(etag)
    logger.info("fetched rubric %s into %s", uri, local)
    return local


def _s3_get(
    client: Any, bucket: str, key: str, uri: str, required: bool, if_none_match: str | None = None
) -> tuple[bytes, str | None] | None:
    """(body, ETag); None for a missing optional object or a 304 to ``if_none_match``."""
    try:
        extra = {"IfNoneMatch": if_none_match} if if_none_match else {}
        answer = client.get_object(Bucket=bucket, Key=key, **extra)
        body: bytes = answer["Body"].read()
        return body, answer.get("ETag")
    except Exception as exc:  # botocore raises many types; all mean "cannot read it"
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        if if_none_match and code in {"304", "NotModified"}:
            return None
        if not required and code in {"NoSuchKey", "404", "NotFound", "AccessDenied", "403"}:
            return None
        hint = "check the URI and the role's s3:GetObject permission"
        raise RubricError(f"{uri}: cannot read s3://{bucket}/{key} ({code}); {hint}") from None
