"""Placeholder for the end-to-end demo that `make demo` runs; the real demo replaces this module."""

from __future__ import annotations

import click


def main() -> None:
    click.echo("demo not built yet")


if __name__ == "__main__":
    main()
