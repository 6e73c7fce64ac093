"""The manual builds (`make docs`: MkDocs with --strict, so a broken link or a missing page fails), its
references are generated from the package (every public name, every command), and the README stays a page
a newcomer reads in two minutes."""
import os
import subprocess
import sys
from pathlib import Path

import typer

import genre_tf
from genre_tf.cli import app

ROOT = Path(__file__).parent.parent
README_MAX_BYTES = 12 * 1024


def test_the_manual_builds_strictly_with_generated_references(tmp_path):
    site = tmp_path / "site"
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                           capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stdout + built.stderr
    api = (site / "api" / "index.html").read_text()
    missing = [name for name, module in genre_tf._API.items() if f'id="genre_tf.{module}.{name}"' not in api]
    assert not missing, f"not in the API reference: {missing}"
    cli = (site / "cli" / "index.html").read_text()
    commands = typer.main.get_command(app).commands
    assert all(f'<h2 id="{name}"' in cli for name in commands), [n for n in commands if f'id="{n}"' not in cli]
    for page in (ROOT / "docs").glob("*.md"):
        assert (site / ("" if page.stem == "index" else page.stem) / "index.html").is_file(), page.name


def test_the_readme_is_short_and_says_nothing_of_how_it_was_made():
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) <= README_MAX_BYTES
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        words = page.read_text().lower()
        assert not any(w in words for w in ("issue ", "this session", "no gpu was lent")), page.name
