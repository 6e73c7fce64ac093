"""The Typer application and the options several commands share. Defaults come from genre_tf.config."""
from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from ..config import BEST_RUN, DEFAULT_MAX_WINDOWS, DEFAULT_REPORTS, ENGINES, RUNTIMES, embedding_params
from ..core.native import filter_native_stderr
from .console import default

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Music genre classification with TensorFlow/Keras.")


@app.callback()
def native_lines_filtered():
    """Before every command: the MP3 decoder's own lines, written to file descriptor 2 from decoding
    threads, never reach the terminal between ours. Only in the real command line: in a test's
    CliRunner, sys.stderr is the runner's capture and the process is the test's."""
    if sys.stderr is sys.__stderr__:
        filter_native_stderr()

ENGINE_OPTION = typer.Option(ENGINES[0], help=f"Where the work runs: {' or '.join(ENGINES)} (a Ray cluster; "
                             + escape("needs pip install 'genre-tf[ray]')."))
RAY_ADDRESS_OPTION = typer.Option(None, help="--engine ray: the cluster to join (host:6379, ray://host:10001)."
                                  + default("$RAY_ADDRESS, else a local Ray on this machine"))
RAY_ACTORS_OPTION = typer.Option(None, help="--engine ray: actors that hold the model."
                                 + default("one per GPU, else one per node"))
RAY_GPUS_OPTION = typer.Option(None, help="--engine ray: GPUs per actor (0.5: two share one)."
                               + default("1 where the cluster has GPUs, else 0"))

def path_text(text) -> Path:
    """A path option's text: an empty string is refused (Python would take it for the current folder)."""
    if not str(text).strip():
        raise typer.BadParameter("empty: name a file or folder")
    return Path(text)


MAX_WINDOWS_OPTION = typer.Option(DEFAULT_MAX_WINDOWS, help="Label each song from at most this many 3 s windows, "
                                  "spread over it (decoding only those where the format allows); 0: every window.")
RUNTIME_OPTION = typer.Option(RUNTIMES[0], help="What runs the model: auto (LiteRT where the run converts: no "
                              "TensorFlow to start; made once per run, kept beside it; else TensorFlow), litert or "
                              "tensorflow.")
RUN_OPTION = typer.Option(BEST_RUN, help=f"A run directory, or '{BEST_RUN}': the top run of the last report.")
REPORTS_OPTION = typer.Option(Path(DEFAULT_REPORTS), parser=path_text,
                              help="Where the last report is (for --run best).")
YAMNET_HANDLE_OPTION = typer.Option(None, help="Where to load YAMNet from, if the run's is not reachable.")
YAMNET_WEIGHTS_OPTION = typer.Option(None, help="yamnet.h5, if the run's is not reachable (for an export: "
                                     "YAMNet as builtin LiteRT ops, where the TF-Hub model needs TF ops).")


def yamnet_override(handle: str | None, weights: str | None):
    """--yamnet-handle/--yamnet-weights of predict, export and serve: None where neither is given (the run's own)."""
    return embedding_params(handle, weights) if handle or weights else None
