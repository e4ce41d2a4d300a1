"""AWS Lambda handler for Amazon Nova RFT: ``judgerl.serve.lambda_handler.handler``.

Configuration comes from ``judgerl_lambda/config.json`` when the zip built by ``judgerl lambda package`` has one
(or the file named by ``JUDGERL_CONFIG``), overridden by environment variables: the judge's ``JUDGERL_*``
(see :mod:`judgerl.serve.config`) and, for the failure policy, ``JUDGERL_UNSCORED`` (neutral|zero|error),
``JUDGERL_NEUTRAL_VALUE`` and ``JUDGERL_MAX_UNSCORED_SHARE`` (default 0.5: a batch with more unscored samples than
that share fails the invocation with the reasons, which AWS surfaces and retries, instead of answering with
placeholder rewards). ``JUDGERL_DEADLINE_MARGIN_S`` (default 10) is how long before the Lambda's own timeout
the handler stops judging and answers, with the remaining samples unscored, rather than letting the whole batch
time out. ``JUDGERL_LOG_LEVEL`` (default INFO) sets the level of the JSON lines written per sample.

The judge is built once per container (cold start) and reused by warm invocations.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from judgerl.errors import JudgerlError, describe_validation_error
from judgerl.judges.outcome import UnscoredPolicy
from judgerl.serve.config import BuiltJudge, ServeConfig
from judgerl.serve.contract import RewardScorer
from judgerl.serve.nova import enforce_scored_share, nova_result, parse_lenient

logger = logging.getLogger(__name__)

BUNDLED_CONFIG = Path("judgerl_lambda") / "config.json"
DEFAULT_DEADLINE_MARGIN_S = 10.0


@dataclass
class LambdaSettings:
    judge: ServeConfig
    policy: UnscoredPolicy
    deadline_margin_s: float = DEFAULT_DEADLINE_MARGIN_S


def load_settings(environ: Mapping[str, str] | None = None) -> LambdaSettings:
    """Bundled (or JUDGERL_CONFIG) file first, then environment variables on top."""
    env = os.environ if environ is None else environ
    file_data, base = _config_file(env)
    judge_defaults = dict(file_data.get("judge", {}))
    for key in ("rubric", "grader"):
        location = judge_defaults.get(key)
        relative = isinstance(location, str) and not location.startswith("s3://") and not Path(location).is_absolute()
        if relative and base is not None and isinstance(location, str):
            judge_defaults[key] = str(base / location)  # bundled paths are relative to the config file
    judge = ServeConfig.from_env(env, defaults=judge_defaults)
    policy_data = dict(file_data.get("policy", {}))
    if env.get("JUDGERL_UNSCORED"):
        policy_data["unscored"] = env["JUDGERL_UNSCORED"].strip()
    if env.get("JUDGERL_NEUTRAL_VALUE"):
        policy_data["neutral_value"] = _number("JUDGERL_NEUTRAL_VALUE", env["JUDGERL_NEUTRAL_VALUE"])
    if env.get("JUDGERL_MAX_UNSCORED_SHARE"):
        policy_data["max_unscored_share"] = _number("JUDGERL_MAX_UNSCORED_SHARE", env["JUDGERL_MAX_UNSCORED_SHARE"])
    try:
        policy = UnscoredPolicy.model_validate(policy_data)
    except ValidationError as exc:
        detail = describe_validation_error(exc)
        where = "JUDGERL_UNSCORED / JUDGERL_NEUTRAL_VALUE / JUDGERL_MAX_UNSCORED_SHARE"
        raise JudgerlError(f"failure policy ({where}): {detail}") from None
    margin = file_data.get("deadline_margin_s", DEFAULT_DEADLINE_MARGIN_S)
    where = "deadline_margin_s in the bundled config"
    if env.get("JUDGERL_DEADLINE_MARGIN_S"):
        margin = _number("JUDGERL_DEADLINE_MARGIN_S", env["JUDGERL_DEADLINE_MARGIN_S"])
        where = "JUDGERL_DEADLINE_MARGIN_S"
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < 900:
        raise JudgerlError(f"{where}={margin!r}: expected seconds from 0 to 900 (the Lambda's longest timeout)")
    return LambdaSettings(judge=judge, policy=policy, deadline_margin_s=float(margin))


def _config_file(env: Mapping[str, str]) -> tuple[dict[str, Any], Path | None]:
    explicit = env.get("JUDGERL_CONFIG")
    path = Path(explicit) if explicit else Path(env.get("LAMBDA_TASK_ROOT", ".")) / BUNDLED_CONFIG
    if not path.exists():
        if explicit:
            raise JudgerlError(f"JUDGERL_CONFIG={explicit}: file not found")
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise JudgerlError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise JudgerlError(f"{path}: expected a JSON object with 'judge' and 'policy'")
    return data, path.parent


def _number(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise JudgerlError(f"{name}={raw!r}: expected a number") from None


# ---- the warm container's judge ------------------------------------------------------------------------------

_state_lock = threading.Lock()
_state: tuple[LambdaSettings, BuiltJudge, RewardScorer] | None = None


def _scorer() -> tuple[LambdaSettings, RewardScorer]:
    global _state
    with _state_lock:
        if _state is None:
            settings = load_settings()
            level = os.environ.get("JUDGERL_LOG_LEVEL", "INFO").upper()
            logging.getLogger("judgerl.rewards").setLevel(level)
            built = settings.judge.build()
            scorer = RewardScorer(built.judge, settings.policy, settings.judge.concurrency)
            logger.info(
                "judge ready: %s, backend %s, policy %s",
                built.describe(),
                "cascade" if settings.judge.cascade else settings.judge.backend,
                settings.policy,
            )
            built.announce_trust()  # the judge's validation on this rubric, or a warning that it has none
            _state = (settings, built, scorer)
        return _state[0], _state[2]


def reset() -> None:
    """Forget the container's judge (tests; a changed configuration)."""
    global _state
    with _state_lock:
        if _state is not None:
            _state[1].close()
        _state = None


def _samples_of(event: Any) -> list[Any]:
    """The batch: a list (the Nova contract); also one sample, or a function-URL/API Gateway body."""
    if isinstance(event, dict) and isinstance(event.get("body"), str):
        body: str | bytes = event["body"]
        if event.get("isBase64Encoded") is True:  # function URLs and API Gateway encode some bodies
            try:
                body = base64.b64decode(event["body"], validate=True)
            except (binascii.Error, ValueError):
                raise JudgerlError("event body: isBase64Encoded is true but the body is not valid base64") from None
        try:
            event = json.loads(body)
        except (ValueError, RecursionError) as exc:  # JSON and UTF-8 errors, integers past 4,300 digits, deep nesting
            if isinstance(exc, json.JSONDecodeError):
                reason = exc.msg
            elif isinstance(exc, UnicodeDecodeError):
                reason = "not UTF-8"
            elif isinstance(exc, RecursionError):
                reason = "nested too deeply"
            else:
                reason = str(exc).split(";", 1)[0][:120]
            raise JudgerlError(f"event body is not valid JSON ({reason})") from None
    if isinstance(event, list):
        return event
    if isinstance(event, dict) and "messages" in event:
        return [event]
    raise JudgerlError(f"the event must be a JSON list of samples (the Nova RFT contract), got {type(event).__name__}")


def _timeout(context: Any, margin_s: float) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return max(1.0, remaining() / 1000.0 - margin_s)


def handler(event: Any, context: Any) -> list[dict[str, Any]]:
    """Score a Nova RFT batch. Results come back in input order, one per sample, whatever went wrong with it;
    raises :class:`~judgerl.serve.nova.MostlyUnscored` (a failed invocation) when too many are unscored."""
    settings, scorer = _scorer()
    items = _samples_of(event)
    if not items:
        return []
    samples = parse_lenient(items)
    timeout_s = _timeout(context, settings.deadline_margin_s)
    outcomes = scorer.score(samples, door="lambda", timeout_s=timeout_s)
    enforce_scored_share(outcomes, settings.policy)
    return [nova_result(outcome) for outcome in outcomes]


class LocalContext:
    """A stand-in for the Lambda context object, for local invokes and tests."""

    def __init__(self, timeout_s: float = 900.0, function_name: str = "judgerl-reward", memory_mb: int = 1024) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.memory_limit_in_mb = str(memory_mb)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
