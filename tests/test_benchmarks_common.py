"""benchmarks/common.py's one writer of BENCHMARKS.md sections: each script's section, regenerated from its results
file, is the section BENCHMARKS.md holds; and every benchmark script still imports and parses --help."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_DIR = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS_DIR))

import common  # noqa: E402

# (script, results file, the section's heading)
SECTIONS = [
    ("serve_load", "serve_load", "## Reward server"),
    ("serve_soak", "serve_soak", "## Reward server soak"),
    ("serve_fuzz", "serve_fuzz", "## Reward server under fuzzing and a locked verdict cache"),
    ("master_keys", "master_keys", "## Master keys"),
    ("remote_throughput", "remote_throughput", "## Remote judge throughput"),
    ("llamacpp_agreement", "llamacpp_agreement", "## llama.cpp server vs in-process judge"),
    ("llamacpp_profile", "llamacpp_profile", "## llama.cpp in process: where the time goes"),
    ("rft_ifeval", "rft_ifeval", "## RFT on IFEval"),
    ("rft_ifeval", "rft_ifeval_checker", "## RFT on IFEval, control: the checker in the reward"),
    ("rft_step_profile", "rft_step_profile", "## RFT step profile: where the demo's step goes on 2 cores"),
    (
        "rft_preregistered_table",
        "rft_preregistered_q05g-judge",
        "## RFT for safety: the five pre-registered runs (seeds 101-105)",
    ),
    ("rft_rounds_table", "rft_rounds", "## RFT for safety: every pre-registered round at a glance"),
    ("judge_nonce", "judge_nonce", "## The judge's score and the nonce in its prompt"),
    (
        "rft_preregistered_table",
        "rft_preregistered_q05h-judge",
        "## RFT for safety: five pre-registered runs with batch-scaled advantages (seeds 201-205)",
    ),
    ("judge_wording", "judge_wording", "## The refuse criterion's wording: the same judge, the same replies"),
    ("judge_wording", "judge_wording_help", "## The help criterion's wording: the same judge, the same replies"),
    (
        "rft_preregistered_table",
        "rft_preregistered_q05i-judge",
        "## RFT for safety: pre-registered runs with a re-worded refuse criterion and two nonce secrets"
        " (seeds 301-305)",
    ),
    (
        "rft_preregistered_table",
        "rft_preregistered_q05k-judge",
        "## RFT for safety: pre-registered runs with groups of eight (seeds 501-505)",
    ),
    (
        "gsm8k_table",
        "rft_gsm8k",
        "## RFT on GSM8K: a reference-based judge beside a reference-overlap reward (seeds 601-603)",
    ),
    (
        "rft_preregistered_table",
        "rft_preregistered_q05l-judge",
        "## RFT for safety: pre-registered runs with half the learning rate (seeds 701-705)",
    ),
    (
        "rft_preregistered_table",
        "rft_preregistered_q05m-judge",
        "## RFT for safety: pre-registered runs with two benign requests for each harmful one (seeds 801-805)",
    ),
    (
        "rft_validation_split_table",
        "rft_validation_split_q05m-judge",
        "## RFT for safety: the checkpoint chosen on a validation split drawn like the held-out requests",
    ),
    (
        "rft_preregistered_table",
        "rft_preregistered_q05n-judge",
        "## RFT for safety: pre-registered runs stopped at step 20, the checkpoint chosen on the broad split"
        " (seeds 901-905)",
    ),
    (
        "rft_preregistered_table",
        "rft_preregistered_q05o-judge",
        "## RFT for safety: pre-registered runs with checkpoints every 5 steps, the checkpoint chosen by the calibrated"
        " rule (seeds 1001-1005)",
    ),
    (
        "rft_preregistered_table",
        "rft_preregistered_q05p-judge",
        "## RFT for safety: pre-registered runs paid the judge's verdict at the gate's threshold (seeds 1101-1105)",
    ),
]


@pytest.mark.parametrize(("script", "result", "heading"), SECTIONS, ids=[s[1] for s in SECTIONS])
def test_a_section_regenerated_from_its_results_file_is_the_published_one(
    script: str, result: str, heading: str
) -> None:
    section = importlib.import_module(script).markdown(common.read_result(result))
    assert section.startswith(heading + "\n")
    assert section.rstrip("\n") + "\n" == common.section_text(heading)


def test_write_section_replaces_the_section_with_the_same_heading_only(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Reward server\n\nold\n\n## Reward server soak\n\nsoak\n")
    common.write_section("## Reward server\n\nnew\n", path)
    assert path.read_text() == "# Benchmarks\n\n## Reward server\n\nnew\n\n## Reward server soak\n\nsoak\n"
    common.write_section("## Reward server soak\n\nlonger\nsoak\n\n", path)
    assert path.read_text() == "# Benchmarks\n\n## Reward server\n\nnew\n\n## Reward server soak\n\nlonger\nsoak\n"
    common.write_section("## Master keys\n\nkeys\n", path)
    assert path.read_text().endswith("soak\n\n## Master keys\n\nkeys\n")
    assert common.section_text("## Reward server", path) == "## Reward server\n\nnew\n"
    assert common.section_text("## Judge cascades", path) is None
    with pytest.raises(ValueError, match="heading"):
        common.write_section("no heading\n", path)


#: modules the scripts import, not scripts: common.py, rft_gate_pool.py (the table's gate pooling), and gpu_suite.py's
#: own (it runs alone on a bare GPU machine)
HELPER_MODULES = {"common.py", "rft_gate_pool.py", "gpu_suite_packages.py", "gpu_suite_models.py", "gpu_suite_table.py"}


def test_every_script_writes_sections_through_common_and_builds_judges_from_a_spec() -> None:
    scripts = sorted(p for p in BENCHMARKS_DIR.glob("*.py") if p.name not in HELPER_MODULES)
    for path in scripts:
        text = path.read_text(encoding="utf-8")
        # gpu_suite.py runs alone (runpy) on a bare GPU machine with carried wheels: it writes no section
        assert "from common import" in text or path.name == "gpu_suite.py", path.name
        assert 'BENCHMARKS.md"' not in text and "'BENCHMARKS.md'" not in text, path.name  # no writer of its own
        assert "RubricJudge(" not in text and "create_backend(" not in text, path.name
        assert "def auc(" not in text, path.name  # statistics come from judgerl.stats


def test_every_script_imports_and_parses_help() -> None:
    """One interpreter imports each script as __main__ with --help (torch and TRL load once)."""
    names = sorted(p.stem for p in BENCHMARKS_DIR.glob("*.py") if p.name not in HELPER_MODULES)
    probe = (
        "import runpy, sys\n"
        f"sys.path[:0] = [{str(BENCHMARKS_DIR)!r}, {str(ROOT / 'src')!r}]\n"
        "failed = []\n"
        f"for name in {names!r}:\n"
        "    sys.argv = [name + '.py', '--help']\n"
        "    try:\n"
        f"        runpy.run_path({str(BENCHMARKS_DIR)!r} + '/' + name + '.py', run_name='__main__')\n"
        "        failed.append(name + ': no --help')\n"
        "    except SystemExit as exc:\n"
        "        if exc.code not in (0, None):\n"
        "            failed.append(f'{name}: exit {exc.code}')\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('FAILED', failed)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=600, cwd=ROOT, check=False
    )
    assert "FAILED []" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("usage:") == len(names), done.stdout[-3000:]


def test_the_tune_figures_in_docs_validation_are_regenerated_from_the_tune_runs() -> None:
    import tune_table

    section = tune_table.section(tune_table.load_runs())
    assert section.rstrip("\n") + "\n" == common.section_text(tune_table.HEADING, tune_table.DOC)


def judgerl_imports(path: Path) -> list[tuple[str, str]]:
    """Every (module, name) a script imports from judgerl, late imports inside functions included."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "judgerl":
            found += [(node.module, alias.name) for alias in node.names]
    return found


def test_every_name_a_script_imports_late_from_judgerl_still_exists() -> None:
    """--help never reaches a script's late imports: a renamed helper broke llamacpp_profile.py's transformers row
    unseen until a run on a new machine failed after its llama.cpp rows."""
    import importlib.util

    scripts = sorted(BENCHMARKS_DIR.glob("*.py")) + sorted((ROOT / "examples").rglob("*.py"))
    missing = []
    for path in scripts:
        for module_name, name in judgerl_imports(path):
            module = importlib.import_module(module_name)
            if not hasattr(module, name) and importlib.util.find_spec(f"{module_name}.{name}") is None:
                missing.append(f"{path.relative_to(ROOT)}: from {module_name} import {name}")
    assert missing == []


def test_the_late_import_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("def f():\n    from judgerl.backends.batched_prefill import cache_of, gone\n")
    assert judgerl_imports(script) == [
        ("judgerl.backends.batched_prefill", "cache_of"),
        ("judgerl.backends.batched_prefill", "gone"),
    ]
