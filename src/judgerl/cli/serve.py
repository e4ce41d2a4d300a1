"""`judgerl serve`: the HTTP reward server for Nova RFT (/v1/nova), OpenRLHF (/get_reward) and verl (/v1/judge),
scoring with a rubric or an OpenAI grader file."""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import Any

import click

from judgerl.cli.judge_config import SERVED_JUDGE_OPTIONS, judge_config_from, policy_from
from judgerl.cli.judge_options import judge_options, policy_options
from judgerl.errors import JudgerlError

logger = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@judge_options(*SERVED_JUDGE_OPTIONS)
@policy_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--token-env",
    default="JUDGERL_SERVER_TOKEN",
    show_default=True,
    help="Environment variable holding the bearer token clients must send (unset: no auth).",
)
@click.option("--max-body-mb", type=click.FloatRange(min=0.001), default=16.0, show_default=True)
@click.option("--max-batch", type=click.IntRange(min=1), default=1024, show_default=True)
@click.option(
    "--request-timeout",
    type=click.FloatRange(min=0.1),
    default=170.0,
    show_default=True,
    help="Seconds of judging per request; samples not judged by then are unscored (OpenRLHF waits 180 s).",
)
@click.option(
    "--keep-alive",
    type=click.FloatRange(min=1),
    default=75.0,
    show_default=True,
    help="Seconds an idle connection stays open; longer than clients keep theirs (httpx: 5 s), so a reused "
    "connection is never closed under a request.",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds to receive a whole request body; a slower client gets 408 and its connection closed.",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds to receive a request's headers; a slower client's connection is closed.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Open connections (and requests) beyond which new requests get 503; keep it below the file limit.",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve on a non-loopback --host without a token (anyone who reaches the port can spend the judge).",
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
def serve(**params: Any) -> None:
    """Serve rubric (and with --pairwise, preference) judgements, or an OpenAI grader file's rewards (--grader),
    over HTTP.

    Routes: POST /v1/nova, POST /get_reward, POST /v1/judge, GET /health, GET /metrics. See docs/serving.md."""
    try:
        import uvicorn

        from judgerl.serve.server import ServerSettings, create_app
        from judgerl.serve.transport import uvicorn_options
    except ImportError as exc:
        hint = "pip install 'judgerl[serve]'"
        raise JudgerlError(f"`judgerl serve` needs the serve extra ({exc.name} is missing): {hint}") from None

    token = os.environ.get(params["token_env"]) or None
    if token is None and not _is_loopback(params["host"]):
        if not params["insecure"]:  # before the judge loads: a refusal costs nothing
            raise JudgerlError(
                f"--host {params['host']}: a server reachable beyond this machine needs a token; set "
                f"{params['token_env']} (clients send it as a bearer token), or pass --insecure to serve without one"
            )
        click.echo(f"warning: listening on {params['host']} without a token (--insecure)", err=True)
    config = judge_config_from(params)
    policy = policy_from(params)
    settings = ServerSettings(
        token=token,
        max_body_bytes=int(params["max_body_mb"] * 1024 * 1024),
        max_batch=params["max_batch"],
        request_timeout_s=params["request_timeout"],
        policy=policy,
        body_timeout_s=params["body_timeout"],
        header_timeout_s=params["header_timeout"],
        keep_alive_s=params["keep_alive"],
        max_connections=params["max_connections"],
    )
    logging.getLogger("judgerl").setLevel(params["log_level"].upper())
    built = config.build()
    try:
        app = create_app(built, settings)
        click.echo(
            f"judgerl serve: {built.describe()}, unscored -> {policy}, on http://{params['host']}:{params['port']}",
            err=True,
        )
        built.announce_trust(lambda line: click.echo(f"judgerl serve: {line}", err=True))
        uvicorn.run(
            app,
            host=params["host"],
            port=params["port"],
            log_level=params["log_level"],
            **uvicorn_options(
                keep_alive_s=settings.keep_alive_s,
                header_timeout_s=settings.header_timeout_s,
                max_connections=settings.max_connections,
            ),
        )
    finally:
        built.close()
