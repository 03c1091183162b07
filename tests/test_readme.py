"""The README is a contract: its commands and its config reference must stay true."""

import contextlib
import io
from pathlib import Path

from seas.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_config_reference_in_readme_is_current():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["config", "--markdown"]) == 0
    readme = (ROOT / "README.md").read_text()
    for line in buf.getvalue().splitlines():
        assert line in readme, f"README's config reference is stale; regenerate with `seas config --markdown`:\n{line}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = ci.strip().splitlines()[-1]
    assert test_cmd.replace(" -q ", " ").replace("pip install -q", "pip install") in readme
