"""The training config: one YAML file says which policy, data, judge, reward and GRPO settings a run uses.

Relative paths in the file are read relative to the file's folder; the default output folder ``runs/<name>`` is
relative to the directory the command runs in. Unknown keys and wrong types are rejected with the key path,
e.g. ``train.yaml: grpo.num_genrations: unknown key (did you mean 'num_generations'?)``. The ``grpo`` section
(:class:`GrpoSettings`) takes any field of TRL's ``GRPOConfig`` (trl==1.16.0), type-checked against TRL's own
annotations: the sampling and length options judgerl reads itself are typed fields, every other option passes
through to TRL in ``trl_options``.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from judgerl.checks.rules import RuleCheck
from judgerl.errors import JudgerlError
from judgerl.judges.content_free import ContentFreeSettings
from judgerl.judges.spec import JudgeSpec
from judgerl.monitors.hacking import MonitorConfig
from judgerl.train.grpo_settings import GrpoSettings

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class ConfigError(JudgerlError):
    """An invalid training config."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSettings(_Section):
    r: int = Field(default=16, gt=0)
    alpha: int = Field(default=32, gt=0)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class PolicyConfig(_Section):
    """The model to fine-tune: a catalog name (``smollm2-135m``), a local folder or .gguf, or a hub id."""

    model: str
    finetune: Literal["lora", "full"] = "lora"
    lora: LoraSettings = Field(default_factory=LoraSettings)
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
    system_prompt: str | None = Field(default=None, description="Prepended as a system message to every prompt.")


class EvalSplit(_Section):
    """Held-out prompts: a separate file, or ``holdout`` rows (a count, or a fraction < 1) taken from the data."""

    path: str | None = None
    holdout: float = Field(default=0, ge=0)
    limit: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_source(self) -> EvalSplit:
        if self.path is not None and self.holdout:
            raise ValueError("give either 'path' or 'holdout', not both")
        return self


class DataConfig(_Section):
    """Rows with a prompt (text or chat messages), an optional reference, an id and metadata columns.

    ``path``: a .jsonl/.json or .parquet file, or ``hf:<dataset>`` (with ``split`` and optional ``subset``)."""

    path: str
    split: str = "train"
    subset: str | None = None
    prompt_column: str = "prompt"
    reference_column: str | None = "reference"
    id_column: str | None = "id"
    metadata_columns: list[str] = Field(default_factory=list)
    limit: int | None = Field(default=None, gt=0)
    shuffle_seed: int | None = None
    eval: EvalSplit = Field(default_factory=EvalSplit)
    checker: Literal["auto", "ifeval", "gsm8k", "refusal", "none"] = Field(
        default="auto",
        description="Program checker for `judgerl eval`: auto picks IFEval, GSM8K or refusal from the data.",
    )


class GateSettings(_Section):
    """``judge.validation`` in a training config: a program checker on the policy's own replies, a labelled file,
    or both (then each must pass)."""

    checker: Literal["auto", "ifeval", "gsm8k", "refusal", "none"] | None = Field(
        default=None,
        description="Checker for the policy's own replies; unset: 'auto' without labels, 'none' with labels.",
    )
    labels: str | None = Field(
        default=None, description="JSONL of labelled replies judged with the run's judge (see train/gate_labels.py)."
    )
    prompts: int = Field(default=32, gt=0, description="Training prompts sampled for the check.")
    samples_per_prompt: int = Field(default=2, gt=0)
    min_auc: float = Field(default=0.8, ge=0.0, le=1.0)
    enforce: bool = Field(default=True, description="Refuse to train below min_auc (false: warn and go on).")

    @model_validator(mode="after")
    def _something_to_measure(self) -> GateSettings:
        if self.checker == "none" and self.labels is None:
            raise ValueError("checker 'none' needs 'labels: <file>'; without either there is nothing to validate")
        return self

    @property
    def policy_checker(self) -> str | None:
        """The checker the policy's replies are measured with; None: no sampling (labels only)."""
        if self.checker is None:
            return None if self.labels is not None else "auto"
        return None if self.checker == "none" else str(self.checker)


class MonitorSettings(MonitorConfig):
    """``monitors`` in a training config: the hacking monitors' thresholds (``MonitorConfig``), run live on every
    step of ``judgerl train``, plus an anchor set and what to do on a warning."""

    anchors: str | None = Field(
        default=None,
        description="JSONL of responses with known verdicts ('expected': good | bad), re-judged every anchor_every "
        "steps with the run's judge (judgerl.monitors.anchors).",
    )
    master_keys: bool = Field(
        default=True,
        description="Add the bare master-key replies ('Let's solve this problem step by step.', ...) to each "
        "anchor prompt as known-bad anchors (judgerl.monitors.anchors.MASTER_KEYS).",
    )
    stop_on_warning: bool = Field(
        default=False, description="Stop training cleanly at the first warning (checkpoint kept, reason recorded)."
    )

    def thresholds(self) -> MonitorConfig:
        return MonitorConfig.model_validate(self.model_dump(exclude={"anchors", "master_keys", "stop_on_warning"}))


class TrainJudge(JudgeSpec):
    """The judge: a :class:`~judgerl.judges.spec.JudgeSpec` (a backend by name, its model, ``options`` for the
    backend's constructor as they are, mode, score, ...) plus training's own settings."""

    cache: bool = Field(default=True, description="Cache verdicts in the run folder (verdict_cache.db).")
    validation: GateSettings | None = Field(
        default=None,
        description="Validate the judge before step 1: on the policy's own replies against a program checker "
        "(train/gate.py), on a labelled file (train/gate_labels.py), or both.",
    )
    content_free: ContentFreeSettings | None = Field(
        default=None,
        description="Fail criteria a completion does not pass better than content-free probes of the same prompt "
        "(master keys such as 'Let's solve this problem step by step.'; judges/content_free.py).",
    )
    overlap: bool = Field(
        default=False,
        description="Start judging as soon as completions exist, while TRL computes log-probabilities. Helps with "
        "a remote judge and beta > 0; on one CPU the two compete for the same cores.",
    )


class PreferenceSettings(_Section):
    """Pairwise judging inside each GRPO group, both orders, turned into one reward per completion."""

    pairs: Literal["all", "tournament"] = "all"
    opponents: int = Field(default=4, gt=0, description="Tournament: comparisons per completion.")
    aggregate: Literal["win_rate", "bradley_terry"] = "win_rate"
    soft: bool = Field(default=False, description="Use the order-averaged probability instead of win/tie/loss.")
    tie_margin: float = Field(default=0.0, ge=0.0, lt=0.5)
    instructions: str = ""


class FunctionReward(_Section):
    """A user reward function ``module:function`` with TRL's signature, weighted like the others."""

    function: str = Field(pattern=r"^[\w.]+:[\w]+$")
    weight: float = Field(default=1.0, allow_inf_nan=False)


class RewardConfig(_Section):
    kind: Literal["rubric", "preference", "grader", "none"] = Field(
        default="rubric",
        description="'grader': an OpenAI grader file (reward.grader); "
        "'none': no judge, the reward is the reward checks and functions alone (a control run).",
    )
    rubric: str | None = None
    grader: str | None = Field(
        default=None,
        description="OpenAI grader JSON file (kind 'grader'): each completion graded with item = its dataset row "
        "(all columns but the prompt), sample = the completion; model graders run on the judge section's backend.",
    )
    row_criteria: str | None = Field(
        default=None, description="Metadata column with per-prompt criteria, judged after the rubric file's."
    )
    instructions: str = Field(default="", description="Judge instructions added to the rubric file's.")
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False, description="Weight of the judge's reward.")
    pass_fail_at_gate: bool = Field(
        default=False,
        description="The judge's part is 1 where a reply's score is above the threshold the run's gate measured for "
        "its criteria (midway between its mean on replies the checker passed and failed), else 0; needs "
        "judge.validation.",
    )
    preference: PreferenceSettings = Field(default_factory=PreferenceSettings)
    checks: list[RuleCheck] = Field(default_factory=list)
    functions: list[FunctionReward] = Field(default_factory=list)
    max_unscored_fraction: float = Field(default=0.25, gt=0, le=1)
    unscored_window: int = Field(default=3, gt=0, description="Generation batches the unscored fraction spans.")
    min_unscored_samples: int = Field(default=8, gt=0, description="Judge at least this many before stopping.")

    @model_validator(mode="after")
    def _kind_needs(self) -> RewardConfig:
        if self.kind == "rubric" and not self.rubric and not self.row_criteria:
            raise ValueError("kind 'rubric' needs 'rubric: <path to a rubric YAML>' or 'row_criteria: <column>'")
        if self.kind == "grader" and not self.grader:
            raise ValueError("kind 'grader' needs 'grader: <path to an OpenAI grader JSON file>'")
        if self.grader and self.kind != "grader":
            raise ValueError(f"'grader' is read only with kind 'grader' (kind is '{self.kind}')")
        if self.kind == "none" and not self.functions and not any(c.role == "reward" for c in self.checks):
            raise ValueError("kind 'none' needs a reward: a check with 'role: reward' or a function")
        names = [c.name for c in self.checks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"checks: duplicate check name(s) {', '.join(duplicates)}")
        functions = [f.function.rsplit(":", 1)[1] for f in self.functions]
        duplicates = sorted({n for n in functions if functions.count(n) > 1})
        if duplicates:
            raise ValueError(
                f"functions: two functions named {', '.join(duplicates)}; their rewards would share a name"
            )
        return self


class TrainConfig(_Section):
    name: str = Field(pattern=_NAME)
    output_dir: str | None = None
    seed: int = 0
    threads: int | None = Field(default=None, gt=0, description="CPU threads for torch (default: torch's choice).")
    policy: PolicyConfig
    data: DataConfig
    judge: TrainJudge = Field(default_factory=TrainJudge)
    reward: RewardConfig
    grpo: GrpoSettings = Field(default_factory=GrpoSettings)
    monitors: MonitorSettings | None = Field(
        default=None, description="Reward-hacking monitors run live during training (train/live_monitors.py)."
    )
    store: str | None = Field(default=None, description="Verdict store (SQLite); default <output_dir>/verdicts.sqlite")
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _pass_fail_needs_a_gate(self) -> TrainConfig:
        if self.reward.pass_fail_at_gate and (self.reward.kind != "rubric" or self.judge.validation is None):
            raise ValueError(
                "reward.pass_fail_at_gate: takes its thresholds from the judge's gate; it needs reward.kind 'rubric' "
                "and a judge.validation section (a checker or labels)"
            )
        return self

    @model_validator(mode="after")
    def _monitors_need_a_judge(self) -> TrainConfig:
        if self.monitors is not None and self.reward.kind == "none":
            raise ValueError("monitors: watch a judge's reward; reward.kind 'none' has no judge to watch")
        if self.monitors is not None and self.monitors.anchors and self.reward.kind != "rubric":
            raise ValueError("monitors.anchors: anchors are re-judged by a rubric judge (reward.kind: rubric)")
        column = self.monitors.signal_by if self.monitors is not None else None
        if column is not None and self.reward.kind != "grader" and column not in self.data.metadata_columns:
            raise ValueError(
                f"monitors.signal_by: '{column}' is not among data.metadata_columns "
                f"({', '.join(self.data.metadata_columns) or 'none'}); add it there so each row's kind reaches the "
                "monitor"
            )
        if self.judge.validation is not None and self.judge.validation.labels and self.reward.kind != "rubric":
            raise ValueError(
                "judge.validation.labels: the labelled rows are judged by a rubric judge (reward.kind: rubric)"
            )
        return self

    # ---- resolved paths -------------------------------------------------------------------------------------

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source is not None else Path.cwd()

    def resolve(self, path: str) -> Path:
        """A path from the file, relative to the file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir).expanduser() if self.output_dir else Path("runs") / self.name

    @property
    def store_path(self) -> Path:
        return self.resolve(self.store) if self.store else self.run_dir / "verdicts.sqlite"

    @property
    def rubric_path(self) -> Path | None:
        return self.resolve(self.reward.rubric) if self.reward.rubric else None

    @property
    def grader_path(self) -> Path | None:
        return self.resolve(self.reward.grader) if self.reward.grader else None


# ---- loading ----------------------------------------------------------------------------------------------------


def _location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(str(part))
        elif part in {"regex", "length", "json_schema", "language", "ifeval"} and parts and parts[-1].isdigit():
            continue  # the discriminated union adds the check type to the path
        else:
            parts.append(str(part))
    return ".".join(parts)


def describe_error(exc: ValidationError, source: str) -> str:
    error = exc.errors()[0]
    where = _location(tuple(error["loc"]))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        model_fields = _fields_at(tuple(error["loc"][:-1]))
        close = difflib.get_close_matches(str(error["loc"][-1]), model_fields, n=1)
        message = f"unknown key (did you mean '{close[0]}'?)" if close else "unknown key"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif message.startswith("grpo."):
        where, _, message = message.partition(": ")
    elif error["type"] == "union_tag_invalid":
        message = "unknown check type; use one of regex, length, json_schema, language, ifeval"
    return f"{source}: {where}: {message}" if where else f"{source}: {message}"


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    model: Any = TrainConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif args:
            model = args[0]
        else:
            return []
    return list(getattr(model, "model_fields", {}))


def parse_config(data: Any, source: str = "<config>") -> TrainConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a training config must be a mapping, got {type(data).__name__}")
    try:
        config = TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, source)) from None
    return config


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    """``key.path=value`` settings (the value read as YAML) applied on top of the file's mapping."""
    for item in overrides:
        key, separator, text = item.partition("=")
        if not separator or not key.strip():
            raise ConfigError(f"--set {item!r}: use key.path=value, e.g. grpo.max_steps=20")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{source}: --set {key}: '{part}' is not a section")
            node = child
        node[parts[-1]] = value
    return data


def read_config_file(path: Path) -> Any:
    """A training config file's YAML, with a one-line error naming the file when it is missing or not YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    path = Path(path)
    data = read_config_file(path)
    if overrides and isinstance(data, dict):
        data = apply_overrides(data, list(overrides), str(path))
    config = parse_config(data, str(path))
    config = config.model_copy(update={"source": path.resolve()})
    check_grader(config, str(path))
    return config


def check_grader(config: TrainConfig, source: str) -> None:
    """Read ``reward.grader`` now, so a mistake in the grader file stops the run before any model loads."""
    if config.grader_path is None:
        return
    from judgerl.graders import GraderSpecError, load_spec

    try:
        load_spec(config.grader_path)
    except GraderSpecError as exc:
        raise ConfigError(f"{source}: reward.grader: {exc}") from None


def dump_config(config: TrainConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json", by_alias=True), sort_keys=False, allow_unicode=True)
