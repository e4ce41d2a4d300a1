from __future__ import annotations

import os
import sys
from pathlib import Path

# Reproducible judge prompts in tests (the nonce key is otherwise random per process).
os.environ.setdefault("JUDGERL_NONCE_KEY", "tests")
sys.path.insert(0, str(Path(__file__).parent))
