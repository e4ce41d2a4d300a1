from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from botocore.response import StreamingBody
from botocore.session import Session
from botocore.stub import Stubber

from judgerl.errors import JudgerlError, RubricError
from judgerl.serve.config import ServeConfig, fetch_s3_rubric, load_rubric
from support.serve import RUBRIC_PATH, ServeBackend, judge_config


def test_env_overrides_defaults_and_code_overrides_env() -> None:
    env = {
        "JUDGERL_RUBRIC": str(RUBRIC_PATH),
        "JUDGERL_BACKEND": "support.serve:ServeBackend",
        "JUDGERL_MODEL": "judge-7b",
        "JUDGERL_BACKEND_OPTIONS": '{"delay_s": 0.0}',
        "JUDGERL_PAIRWISE": "true",
        "JUDGERL_CONCURRENCY": "16",
        "JUDGERL_RATIONALES": "sample:0.25",
        "JUDGERL_CACHE": "/tmp/verdicts.sqlite",
    }
    config = ServeConfig.from_env(env, defaults={"mode": "generate", "concurrency": 2}, overrides={"mode": "logprob"})
    assert config.backend == "support.serve:ServeBackend" and config.model == "judge-7b"
    assert config.pairwise is True and config.concurrency == 16 and config.rationales == "sample:0.25"
    assert config.cache_path == "/tmp/verdicts.sqlite" and config.mode == "logprob"
    assert config.backend_kwargs() == {"delay_s": 0.0, "model": "judge-7b"}


def test_bedrock_takes_the_lambda_region_other_backends_do_not() -> None:
    base = {"JUDGERL_RUBRIC": "r.yaml", "AWS_REGION": "eu-west-1"}
    assert ServeConfig.from_env({**base, "JUDGERL_BACKEND": "bedrock"}).region == "eu-west-1"
    assert ServeConfig.from_env({**base, "JUDGERL_BACKEND": "bedrock", "JUDGERL_REGION": "us-east-1"}).region == (
        "us-east-1"
    )
    assert ServeConfig.from_env({**base, "JUDGERL_BACKEND": "openai"}).region is None
    packaged = {"backend": "bedrock", "backend_options": {"region": "ap-south-1"}}
    assert ServeConfig.from_env(base, defaults=packaged).backend_kwargs()["region"] == "ap-south-1"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "JUDGERL_RUBRIC is not set"),
        ({"JUDGERL_RUBRIC": "r.yaml", "JUDGERL_CONCURRENCY": "many"}, "JUDGERL_CONCURRENCY='many': expected a whole"),
        ({"JUDGERL_RUBRIC": "r.yaml", "JUDGERL_PAIRWISE": "maybe"}, "JUDGERL_PAIRWISE='maybe'"),
        ({"JUDGERL_RUBRIC": "r.yaml", "JUDGERL_BACKEND_OPTIONS": "[1]"}, "JUDGERL_BACKEND_OPTIONS: expected a JSON"),
        ({"JUDGERL_RUBRIC": "r.yaml", "JUDGERL_BACKEND_OPTIONS": "{"}, "JUDGERL_BACKEND_OPTIONS: not valid JSON"),
        ({"JUDGERL_RUBRIC": "r.yaml", "JUDGERL_MODE": "vibes"}, "field 'mode'"),
        ({"JUDGERL_RUBRIC": "r.yaml", "JUDGERL_RATIONALES": "some"}, "rationales: 'some' is not one of"),
        ({"JUDGERL_RUBRIC": "r.yaml", "JUDGERL_CONCURRENCY": "0"}, "field 'concurrency'"),
    ],
)
def test_env_mistakes_name_the_variable_or_field(env: dict[str, str], message: str) -> None:
    with pytest.raises(JudgerlError, match=message.replace("(", r"\(").replace("[", r"\[")):
        ServeConfig.from_env(env)


def test_build_with_a_backend_given_as_module_and_class(tmp_path: Path) -> None:
    built = judge_config(pairwise=True, cache_path=str(tmp_path / "c.sqlite"), model="m-1").build()
    try:
        assert isinstance(built.backend, ServeBackend) and built.backend.model_id == "m-1"
        assert built.rubric.names == ["safe", "correct", "polite"]
        assert built.pairwise_judge is not None and built.pairwise_judge.backend is built.backend
        assert built.rubric_judge.cache is built.cache is not None
    finally:
        built.close()
    with pytest.raises(JudgerlError, match=r"backend 'support\.fakes:ScriptedBackend': bad option"):
        judge_config(backend="support.fakes:ScriptedBackend", backend_options={"temperature_typo": 1}).build_backend()
    with pytest.raises(JudgerlError, match="unknown backend 'nonesuch'"):
        judge_config(backend="nonesuch").build_backend()
    with pytest.raises(JudgerlError, match="no_such_module"):
        judge_config(backend="no_such_module:Backend").build_backend()


def test_relative_rubric_is_found_under_the_lambda_task_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "r.yaml").write_text(RUBRIC_PATH.read_text())
    monkeypatch.chdir(tmp_path / "bundle")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    assert load_rubric("bundle/r.yaml").name == "support-reply"
    with pytest.raises(RubricError, match="rubric file not found"):
        load_rubric("bundle/missing.yaml")


def _s3_stub() -> tuple[object, Stubber]:
    client = Session().create_client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    return client, Stubber(client)


def _body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_s3_rubric_and_its_calibration_are_fetched_once_and_again_when_changed(tmp_path: Path) -> None:
    client, stub = _s3_stub()
    calibration = {"judge-x": {"correct": {"threshold": 0.3, "method": "labelled", "n": 9}}}
    rubric = {"Bucket": "b", "Key": "r/rubric.yaml"}
    first = {"Body": _body(RUBRIC_PATH.read_bytes()), "ETag": '"v1"'}
    stub.add_response("get_object", first, rubric)
    stub.add_response(
        "get_object",
        {"Body": _body(json.dumps(calibration).encode())},
        {"Bucket": "b", "Key": "r/rubric.calibration.json"},
    )
    stub.add_client_error(
        "get_object", "NotModified", http_status_code=304, expected_params={**rubric, "IfNoneMatch": '"v1"'}
    )
    edited = RUBRIC_PATH.read_bytes() + b"\n# edited\n"
    stub.add_response("get_object", {"Body": _body(edited), "ETag": '"v2"'}, {**rubric, "IfNoneMatch": '"v1"'})
    stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)  # its calibration file is gone
    with stub:
        local = fetch_s3_rubric("s3://b/r/rubric.yaml", client=client, cache_dir=tmp_path / "rubrics")
        assert json.loads((local.parent / "rubric.calibration.json").read_text()) == calibration
        again = fetch_s3_rubric("s3://b/r/rubric.yaml", client=client, cache_dir=tmp_path / "rubrics")  # 304
        assert again == local and local.read_bytes() == RUBRIC_PATH.read_bytes()
        changed = fetch_s3_rubric("s3://b/r/rubric.yaml", client=client, cache_dir=tmp_path / "rubrics")
    stub.assert_no_pending_responses()
    assert changed == local and local.read_bytes() == edited  # the old code kept the first copy for good
    assert not (local.parent / "rubric.calibration.json").exists()
    assert (tmp_path / "rubrics").stat().st_mode & 0o077 == 0


def test_the_default_s3_rubric_folder_is_private_and_unpredictable(monkeypatch: pytest.MonkeyPatch) -> None:
    import judgerl.serve.config as config

    monkeypatch.setattr(config, "_private_root", None)
    root = config._rubric_root(None)
    monkeypatch.setattr(config, "_private_root", None)
    other = config._rubric_root(None)
    try:
        assert root != other and root.name.startswith("judgerl-rubrics-")  # old: $TMPDIR/judgerl-rubrics for all
        assert root.stat().st_mode & 0o077 == 0
    finally:
        root.rmdir()
        other.rmdir()


def test_s3_errors_name_the_uri(tmp_path: Path) -> None:
    client, stub = _s3_stub()
    stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
    with stub, pytest.raises(RubricError, match=r"s3://b/none.yaml: cannot read s3://b/none.yaml \(NoSuchKey\)"):
        fetch_s3_rubric("s3://b/none.yaml", client=client, cache_dir=tmp_path)
    with pytest.raises(RubricError, match=r"must look like s3://bucket/path/rubric\.yaml"):
        fetch_s3_rubric("s3://bucket-only", client=client, cache_dir=tmp_path)
    # a rubric without a calibration file is fine
    client, stub = _s3_stub()
    stub.add_response("get_object", {"Body": _body(RUBRIC_PATH.read_bytes())}, {"Bucket": "b", "Key": "x.yaml"})
    stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
    with stub:
        assert fetch_s3_rubric("s3://b/x.yaml", client=client, cache_dir=tmp_path).exists()
