"""Helpers around the main job: `synth` (a synthetic labelled dataset) and `download-yamnet` (YAMNet
for offline use)."""
from __future__ import annotations

from pathlib import Path

import typer

from ..config import YAMNET_DOWNLOAD_DIR, YAMNET_HUB_HANDLE, YAMNET_WEIGHTS_URL, SynthParams
from .app import app, path_text
from .console import cli_errors, progress_bar, say


@app.command()
@cli_errors("the clips written so far are kept; run the same command again to finish")
def synth(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write <genre>/<clip>.wav into.", parser=path_text),
    genres: int = typer.Option(SynthParams.genres, help="Number of genres (at most 10)."),
    clips: int = typer.Option(SynthParams.clips, help="Clips per genre."),
    seconds: float = typer.Option(SynthParams.seconds, help="Length of each clip."),
    seed: int = typer.Option(SynthParams.seed, help="Same seed, same audio."),
):
    """Write a synthetic labelled dataset of generated music (what the tests and the demo use)."""
    from ..workflows.synth import synthesize

    with progress_bar(transient=True) as progress:
        task = progress.add_task("synthesizing", total=genres * clips, rate="")
        paths = synthesize(out_dir, genres, clips, seconds, seed, on_clip=lambda p: progress.advance(task))
    say(f"{len(paths)} clips in {out_dir}")


@app.command("download-yamnet")
@cli_errors("nothing usable was written; run the same command again")
def download_yamnet(
    out_dir: Path = typer.Option(Path(YAMNET_DOWNLOAD_DIR), "--out", help="Folder for savedmodel/ and yamnet.h5.",
                                 parser=path_text),
    handle: str = typer.Option(YAMNET_HUB_HANDLE, help="TF-Hub handle."),
):
    """Fetch YAMNet once (needs internet) for offline use: the hub SavedModel and the Keras weights."""
    from ..features.embedding import download_yamnet as fetch

    savedmodel, weights = fetch(handle, YAMNET_WEIGHTS_URL, out_dir)
    say(f"YAMNet saved: --yamnet-weights {weights} (batched, fast) or --yamnet-handle {savedmodel}; "
        f"or set GENRE_TF_YAMNET_WEIGHTS / GENRE_TF_YAMNET_HANDLE")
