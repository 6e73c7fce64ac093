"""The code reads one way: ruff's rules (pyproject.toml: pycodestyle, pyflakes, isort, bugbear, pyupgrade at
the project's line length) hold over the package, the tests and the scripts."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is missing: it is a dev dependency (pip install -e '.[dev]')")
    checked = subprocess.run([ruff, "check", "--no-cache", "genre_tf", "tests", "scripts"], cwd=ROOT,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
