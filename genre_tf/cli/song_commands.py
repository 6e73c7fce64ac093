"""Commands that use a trained run: `predict` (songs, or a whole folder into a table), `export` (a
waveform-in model) and `serve` (a web page and a JSON API)."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from ..config import (
    ENGINES,
    EXPORT_FORMATS,
    RUNTIMES,
    TAG_DISAGREEMENT_CONFIDENCE,
    TOP_GENRES,
    RayParams,
    ServeParams,
)
from ..core.errors import GenreTfError, parse_names, require
from .app import (
    ENGINE_OPTION,
    MAX_WINDOWS_OPTION,
    RAY_ACTORS_OPTION,
    RAY_ADDRESS_OPTION,
    RAY_GPUS_OPTION,
    REPORTS_OPTION,
    RUN_OPTION,
    RUNTIME_OPTION,
    YAMNET_HANDLE_OPTION,
    YAMNET_WEIGHTS_OPTION,
    app,
    path_text,
    yamnet_override,
)
from .console import FileProgress, cli_errors, default, err, out, say, with_flags


def describe_run(run, models: int) -> None:
    """Says which run is used (the user may have asked for 'best')."""
    folds = f", an ensemble of its {models} fold models" if models > 1 else ""
    say(f"run {run.path} ({'+'.join(run.inputs)} / {run.model}{folds})", err)


def chosen_run(run: str, reports: Path) -> Path:
    """--run's folder: as given, or 'best' (the last report's, else the finished runs ranked now: said)."""
    from ..workflows.report import resolve_run

    return resolve_run(run, reports, info=lambda message: say(with_flags(message), err))


def load_predictor(run: str, reports: Path, yamnet_handle: str | None, yamnet_weights: str | None,
                   runtime: str = RUNTIMES[-1]):
    """The run behind --run, ready to label audio (with TensorFlow, or LiteRT where `runtime` allows);
    says which it is."""
    from ..workflows.litert import choose_runtime, song_model

    run_dir, yamnet = chosen_run(run, reports), yamnet_override(yamnet_handle, yamnet_weights)
    predictor = song_model(run_dir, yamnet, choose_runtime(run_dir, yamnet, runtime, lambda m: say(m, err)))
    describe_run(predictor.run, len(predictor.run.model_files))
    return predictor


@app.command()
@cli_errors("with --out, the songs labelled so far are kept: run the same command again to finish")
def predict(
    songs: list[Path] = typer.Argument(..., help="Audio files of any length, format, sample rate; with --out, "
                                       "one folder: every song under it."),
    run: str = RUN_OPTION,
    reports: Path = REPORTS_OPTION,
    top: int = typer.Option(TOP_GENRES, help="How many genres to show."),
    hop: float = typer.Option(None, help="Seconds between window starts."
                              + default("the window length, 3 s")),
    max_windows: int = MAX_WINDOWS_OPTION,
    runtime: str = RUNTIME_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON with per-window probabilities."),
    table: Path = typer.Option(None, "--out", help="Label a whole folder into a table (.parquet or .csv), one row "
                             "per song; resumable: songs already in it are skipped.", parser=path_text),
    windows: bool = typer.Option(False, "--windows", help="With --out: one row per window too, in a "
                                 "second table beside it (predictions.windows.parquet for predictions.parquet)."),
    compare_tags: bool = typer.Option(False, "--compare-tags", help="With --out: each song's genre tag beside "
                                      "its prediction; lists the songs whose tag a confident prediction "
                                      f"(≥ {TAG_DISAGREEMENT_CONFIDENCE:.0%}) disagrees with. (`genre-tf tag` writes "
                                      "tags.)"),
    engine: str = ENGINE_OPTION,
    ray_address: str = RAY_ADDRESS_OPTION,
    ray_actors: int = RAY_ACTORS_OPTION,
    ray_gpus: float = RAY_GPUS_OPTION,
    yamnet_handle: str = YAMNET_HANDLE_OPTION,
    yamnet_weights: str = YAMNET_WEIGHTS_OPTION,
):
    """Label songs with a trained run: top genres with probabilities, averaged over 3 s windows. With
    --out, every song under a folder, into a table."""
    require(top >= 1, f"`top` must be at least 1, not {top}")
    yamnet = yamnet_override(yamnet_handle, yamnet_weights)
    if table is not None:
        require(not json_output, "--json prints and --out writes a table: choose one")
        require(len(songs) == 1 and songs[0].is_dir(), "--out labels every song under one folder: give one folder")
        return label_folder(songs[0], table, run, reports, top, hop, windows, compare_tags, engine,
                            RayParams(ray_address, ray_actors, ray_gpus), yamnet, max_windows, runtime)
    require(engine == ENGINES[0], f"--engine {engine} labels a folder into a table: give --out predictions.parquet")
    require(not windows and not compare_tags,
            f"{'--windows' if windows else '--compare-tags'} goes with --out (a table of every song under a folder)")
    for song in songs:
        require(not song.is_dir(), f"{song}: a folder; label every song under it with --out predictions.parquet "
                                   "(or .csv)")
    label_files(songs, run, reports, top, hop, json_output, yamnet, max_windows, runtime)


def label_files(songs: list[Path], run: str, reports: Path, top: int, hop: float | None, json_output: bool,
                yamnet, max_windows: int, runtime: str) -> None:
    """`predict FILE...`: each song's top genres printed (or all, as JSON) in the order given."""
    from ..io.runs import load_run
    from ..workflows.library import label_songs

    run_dir = chosen_run(run, reports)
    chosen = load_run(run_dir)
    describe_run(chosen, len(chosen.model_files))
    results, failed = [], 0
    with label_songs(run_dir, songs, hop, yamnet=yamnet, info=lambda message: say(message, err),
                     max_windows=max_windows, runtime=runtime) as labelled:
        for item, prediction, error in labelled:
            song = songs[item]
            if error:
                say(error, err, "[red]skipped:[/]")
                failed += 1
                continue
            for note in prediction.notes:
                say(f"{song}: {note}", err, "[yellow]note:[/]")
            if json_output:
                results.append(prediction.to_dict())
            else:
                ranked = ", ".join(f"{genre} {p:.0%}" for genre, p in prediction.top(top))
                say(f"{song}: {ranked}  ({len(prediction.window_starts)} windows)")
    if json_output:
        out.out(json.dumps(results, indent=1))
    if failed == len(songs):
        raise typer.Exit(1)


def label_folder(folder: Path, table: Path, run: str, reports: Path, top: int, hop: float | None, windows: bool,
                 compare_tags: bool, engine: str, ray: RayParams, yamnet, max_windows: int, runtime: str) -> None:
    """`predict FOLDER --out TABLE`: every song under the folder, labelled into the table."""
    from ..workflows.library import label_library

    run_dir = chosen_run(run, reports)
    events = FileProgress("labelling", "songs")
    try:
        result = label_library(run_dir, folder, table, hop, windows, top, engine, ray, yamnet, events,
                               compare_tags=compare_tags, max_windows=max_windows, runtime=runtime)
    finally:
        events.close()
    written = f"{result.out}" + (f" and {result.windows_out}" if result.windows_out else "")
    say(f"{result.songs} songs in {written}; {result.labelled - len(result.failed)} labelled now, "
        f"{len(result.failed)} failed (their rows say why), {result.kept} kept from before; {result.seconds:.1f} s")
    if compare_tags:
        say(disagreements_heading(len(result.disagreements)))
        for path, tag, genre, probability in result.disagreements:
            say(f"  {path}: tagged {tag}, predicted {genre} {probability:.0%}")
    if result.failed and len(result.failed) == result.labelled:
        raise typer.Exit(1)


def disagreements_heading(count: int) -> str:
    """--compare-tags' summary: a sentence for no song, one, or the list of several that follows."""
    disagrees = (f"tag disagrees with a prediction at least {TAG_DISAGREEMENT_CONFIDENCE:.0%} sure "
                 "(column tag_disagrees)")
    if not count:
        return f"no song's {disagrees}"
    if count == 1:
        return f"1 song whose {disagrees}:"
    return f"{count} songs whose {disagrees}, the most confident first:"


@app.command()
@cli_errors("nothing was written; an earlier export in --out is kept")
def export(
    out_dir: Path = typer.Option(..., "--out", help="Folder for saved_model/, model.tflite and export.json.",
                                 parser=path_text),
    run: str = RUN_OPTION,
    reports: Path = REPORTS_OPTION,
    formats: str = typer.Option(",".join(EXPORT_FORMATS), "--format", help="A comma list of formats."),
    yamnet_handle: str = YAMNET_HANDLE_OPTION,
    yamnet_weights: str = YAMNET_WEIGHTS_OPTION,
):
    """Export a run as a model that takes a raw waveform (16 kHz mono, any length) and returns genre
    probabilities per 3 s window and for the whole song; loadable by TensorFlow alone."""
    from ..workflows.export import export_run

    chosen = parse_names(formats, "--format", EXPORT_FORMATS)
    predictor = load_predictor(run, reports, yamnet_handle, yamnet_weights)
    record = export_run(predictor, out_dir, chosen).record
    if record["saved_model"]:
        say(f"SavedModel: {out_dir / record['saved_model']} (signature '{record['signature']}')")
    if "tflite" in record:
        tflite = record["tflite"]
        if tflite["file"]:
            say(f"LiteRT: {out_dir / tflite['file']} ({tflite['ops']} ops)")
        for ops, why in tflite["not_converted"].items():
            say(f"LiteRT ({ops}): {why}", err, "[yellow]not converted:[/]")


@app.command()
@cli_errors("the server stopped")
def serve(
    run: str = RUN_OPTION,
    reports: Path = REPORTS_OPTION,
    host: str = typer.Option(ServeParams.host, help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(ServeParams.port, help="Port to listen on."),
    max_upload_mb: float = typer.Option(ServeParams.max_upload_mb, help="Largest upload accepted."),
    max_audio_seconds: float = typer.Option(ServeParams.max_audio_seconds, help="Longest song accepted (seconds of "
                                            "audio; checked from its header, and while decoding)."),
    yamnet_handle: str = YAMNET_HANDLE_OPTION,
    yamnet_weights: str = YAMNET_WEIGHTS_OPTION,
    runtime: str = RUNTIME_OPTION,
):
    """A web page to label your own songs (drop a file, see the genres over time), and a JSON API."""
    try:
        from ..serving.server import serve as run_server
    except ImportError as e:
        raise GenreTfError(f"serve needs its extra: pip install 'genre-tf[serve]' ({e.name} is missing)") from None
    params = ServeParams(host=host, port=port, max_upload_mb=max_upload_mb, max_audio_seconds=max_audio_seconds)
    predictor = load_predictor(run, reports, yamnet_handle, yamnet_weights, runtime)
    say(f"genre-tf is listening on http://{host}:{port}/ (Ctrl-C stops it)", err)
    run_server(predictor, params)
