"""The manual and the tool stay together: every `genre-tf` command line the README and the docs pages show
parses against the CLI (command and option names exist, values have the right types, required options are
given), and every command is shown somewhere."""
import re
import shlex
from pathlib import Path

import pytest
import typer

from genre_tf.cli import app

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def readme_commands() -> list[str]:
    """Command lines of the pages' code blocks, comments dropped, `[--opt x]` made plain, `a|b` -> a."""
    commands = []
    for line in (line for page in PAGES for line in page.read_text().splitlines()):
        match = re.match(r"^\s{4}(genre-tf\s.*?)(\s+#.*)?$", line)
        if match:
            command = match.group(1).replace("[", "").replace("]", "")
            commands.append(re.sub(r"(\S+)\|\S+", r"\1", command).replace("…", "x"))
    return commands


COMMANDS = readme_commands()


def test_the_readme_shows_every_command():
    shown = {shlex.split(c)[1] for c in COMMANDS}
    assert shown == set(typer.main.get_command(app).commands), shown


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_parses(line):
    group = typer.main.get_command(app)
    name, *args = shlex.split(line)[1:]
    parent = group.make_context("genre-tf", [name, *args])  # parses the group's part only
    command = group.get_command(parent, name)
    assert command is not None, f"no command {name}"
    try:
        command.make_context(name, args, parent=parent)  # parses and checks, runs nothing
    except Exception as e:  # Typer's bundled click raises its UsageError subclasses
        pytest.fail(f"`{line}`: {getattr(e, 'format_message', e.__str__)()}")
