"""The `genre-tf` command line: parses options, calls the library (genre_tf's public API and its
workflows), prints. No work is done here.

    app              the Typer application and the options several commands share
    console          messages, tables, progress bars; library errors in one line, with flag names
    data_commands    extract
    model_commands   train, models, report
    song_commands    predict, export, serve
    tag_commands     tag
    tool_commands    synth, download-yamnet
"""
# Each registers its commands on `app`, in the order `--help` lists them.
from . import data_commands, model_commands, song_commands, tag_commands, tool_commands  # noqa: F401
from .app import app

__all__ = ["app"]
