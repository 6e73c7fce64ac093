"""MkDocs hooks: the API and command references, generated on each build from the package itself (never
written by hand): every name `genre_tf` exports, through mkdocstrings, and every command of the Typer app with
its arguments and options."""
from __future__ import annotations

import re

API_MARK = "<!-- genre-tf: api reference -->"
CLI_MARK = "<!-- genre-tf: cli reference -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if API_MARK in markdown:
        markdown = markdown.replace(API_MARK, api_reference())
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_reference())
    return markdown


def api_reference() -> str:
    """A `:::` block per public name, grouped by the sub-package that defines it."""
    import genre_tf

    groups: dict[str, list[str]] = {}
    for name, module in genre_tf._API.items():
        groups.setdefault(module.split(".")[0], []).append(f"genre_tf.{module}.{name}")
    blocks = []
    for package, names in sorted(groups.items()):
        blocks.append(f"### {package}\n")
        blocks += [f"::: {name}\n    options:\n      heading_level: 4\n      show_root_full_path: false\n"
                   for name in sorted(names)]
    return "\n".join(blocks)


def cli_reference() -> str:
    """Each command: its usage, its help, a table of its arguments and options with their defaults."""
    import typer

    from genre_tf.cli import app

    group = typer.main.get_command(app)
    out = []
    for name, command in group.commands.items():
        context = command.context_class(command, info_name=f"genre-tf {name}")
        usage = " ".join(command.collect_usage_pieces(context))
        out += [f"## {name}\n", f"    genre-tf {name} {usage}\n", _plain(command.help or "") + "\n",
                "| argument or option | what it does | default |", "|---|---|---|"]
        for param in command.params:
            names = ", ".join(param.opts) if param.param_type_name == "option" else param.name.upper()
            default = "" if param.default in (None, False) or param.required else f"`{param.default}`"
            help_text = _plain(getattr(param, "help", None) or "").replace("|", "\\|").replace("\n", " ")
            out.append(f"| `{names}` | {help_text} | {default} |")
        out.append("")
    return "\n".join(out)


def _plain(text: str) -> str:
    """Help text without Rich's markup escapes."""
    return re.sub(r"\\\[", "[", text)
