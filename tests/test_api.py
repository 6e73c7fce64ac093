"""The manual's Python API example (docs/api.md) runs as written, and prints what it says it prints."""
import contextlib
import io
import re
from pathlib import Path

from genre_tf.io.tag_journal import read_plan

API_PAGE = Path(__file__).parent.parent / "docs" / "api.md"


def readme_example() -> str:
    (code,) = re.findall(r"```python\n(.*?)```", API_PAGE.read_text(), re.S)
    return code


def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(readme_example(), "docs/api.md", "exec"), {"__name__": "readme"})
    lines = printed.getvalue().splitlines()
    assert lines[0] == "18 clips, 54 segments"
    assert lines[1].startswith("test clip accuracy ")
    assert lines[2].startswith("[('") and lines[2].count("', 0.") == 2
    assert lines[3] == "18 songs in labels.csv"
    planned = sum(row["action"] == "write" for row in read_plan(tmp_path / "tagging" / "plan.csv"))
    assert lines[4] == f"{planned} songs to tag"
    assert lines[5] == "`batch_size` must be at least 1, not 0"  # the argument, not the flag
    assert (tmp_path / "labels.csv").is_file() and list((tmp_path / "reports").glob("*/results.md"))
