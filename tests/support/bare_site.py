"""Run a script as on a machine without some packages: this venv's site-packages is seen through a folder of
links that leaves them (and their metadata) out. Usage: python bare_site.py HIDDEN,NAMES script.py [args...]"""

from __future__ import annotations

import os
import runpy
import sys
import tempfile
from pathlib import Path


def main() -> None:
    hidden = set(sys.argv[1].split(","))
    site = next(p for p in sys.path if p.endswith("site-packages"))
    view = Path(tempfile.mkdtemp(prefix="bare-site-"))
    for entry in Path(site).iterdir():
        if entry.name.split("-")[0].split(".")[0].lower() not in hidden:
            os.symlink(entry, view / entry.name)
    sys.path[sys.path.index(site)] = str(view)
    script = sys.argv[2]
    sys.argv = sys.argv[2:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
