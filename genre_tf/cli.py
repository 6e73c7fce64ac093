"""The `genre-tf` command line: parses options, calls the library, prints. No work is done here."""
from __future__ import annotations

import functools
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .errors import GenreTfError
from .extract import DEFAULT_BATCH_SIZE, DEFAULT_DATA, DEFAULT_WORKERS
from .features import DEFAULT_FEATURES, FEATURES, INPUT_PRESETS
from .report import FORMATS, SORT_KEYS
from .splits import BUILTIN_SPLITS
from .params import (AUGMENTATIONS, DEFAULT_RATIOS, DEFAULT_SEGMENT_SECONDS, ENGINES, EXPORT_FORMATS,
                     YAMNET_HUB_HANDLE, ModelOptions, MusicnnParams, RayParams, SegmentParams, ServeParams,
                     TrainConfig)

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Music genre classification with TensorFlow/Keras.")
out = Console()
err = Console(stderr=True)


def say(message: str, console: Console = out, label: str = "") -> None:
    """One message, never hard-wrapped (scripts and logs read these lines). The message is plain text
    (a file may be called 'song [live].mp3'); only the label is Rich markup."""
    console.print(f"{label} " * bool(label) + escape(message), soft_wrap=True, highlight=False)


def print_table(table: Table) -> None:
    """Never cut a number: a terminal narrower than the table wraps its lines instead."""
    natural = Measurement.get(out, out.options.update_width(1000), table).maximum
    Console(width=max(out.width, natural)).print(table)


def cli_errors(interrupted: str):
    """Library errors become one red line and a non-zero exit; Ctrl-C says what became of the work."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except GenreTfError as e:
                say(str(e), err, "[bold red]error:[/]")
                raise typer.Exit(1)
            except KeyboardInterrupt:
                say(interrupted, err, "[yellow]interrupted:[/]")
                raise typer.Exit(130)

        return wrapper

    return decorate


NOTHING_WRITTEN = "nothing was written"


def progress_bar(transient: bool = False) -> Progress:
    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=err, transient=transient)


def default(value) -> str:
    """A default for help text, where Typer shows none (options whose default is resolved later).
    Escaped: help text is Rich markup, where a bare [default: ...] is a tag and vanishes."""
    return " " + escape(f"[default: {value}]")


class _FileEvents:
    """Shows a pass over many files (extraction, labelling a library) on the terminal: a progress bar
    with files/s and ETA, one line per problem."""

    def __init__(self, action: str, unit: str):
        self.progress = progress_bar()
        self.action, self.unit = action, unit
        self.task = None

    def info(self, message):
        say(message, err)

    def warn(self, message):
        say(message, self.progress.console if self.task is not None else err, "[yellow]warning:[/]")

    def start(self, total):
        self.progress.start()
        self.task = self.progress.add_task(self.action, total=total, rate="")

    def _advance(self):
        self.progress.advance(self.task)
        t = self.progress.tasks[0]
        self.progress.update(self.task, rate=f"{t.speed:.1f} {self.unit}/s" if t.speed else "")

    def clip_done(self, clip, segments):
        self._advance()

    def clip_failed(self, clip, error):
        say(error, self.progress.console, "[red]skipped:[/]")
        self._advance()

    def close(self):
        if self.task is not None:
            self.progress.stop()


DEFAULT_STORE = Path("features")
DEFAULT_RUNS = Path("saved_models")
DEFAULT_REPORTS = Path("reports")
FEATURE_NAMES = ", ".join(FEATURES)

ENGINE_OPTION = typer.Option(ENGINES[0], help=f"Where the work runs: {' or '.join(ENGINES)} (a Ray cluster; "
                             + escape("needs pip install 'genre-tf[ray]')."))
RAY_ADDRESS_OPTION = typer.Option(None, help="--engine ray: the cluster to join (host:6379, ray://host:10001)."
                                  + default("$RAY_ADDRESS, else a local Ray on this machine"))
RAY_ACTORS_OPTION = typer.Option(None, help="--engine ray: actors that hold the model."
                                 + default("one per GPU, else one per node"))
RAY_GPUS_OPTION = typer.Option(None, help="--engine ray: GPUs per actor (0.5: two share one)."
                               + default("1 where the cluster has GPUs, else 0"))


@app.command()
@cli_errors("the clips finished so far are kept; rerun `genre-tf extract --store STORE` to finish")
def extract(
    data: Path = typer.Option(None, help="Folder of <genre>/<clip>.wav|au|mp3|flac|ogg."
                              + default(f"the store's own, else {DEFAULT_DATA}")),
    store: Path = typer.Option(DEFAULT_STORE, help="Feature store folder."),
    features: str = typer.Option(None, help=f"Comma list of features: {FEATURE_NAMES}."
                                 + default("the store's, else " + ",".join(DEFAULT_FEATURES))),
    yamnet_handle: str = typer.Option(None, help="YAMNet TF-Hub handle or local SavedModel folder."
                                      + default(f"$GENRE_TF_YAMNET_HANDLE, else {YAMNET_HUB_HANDLE}")),
    yamnet_weights: str = typer.Option(None, help="yamnet.h5: use genre-tf's batched Keras YAMNet (fast)."
                                       + default("$GENRE_TF_YAMNET_WEIGHTS")),
    musicnn_model: str = typer.Option(None, help="musicnn's trained weights: MSD_musicnn, MTT_musicnn or a "
                                      "checkpoint folder." + default(MusicnnParams.model)),
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, help="Segments per feature batch."),
    workers: int = typer.Option(DEFAULT_WORKERS, help="Decoding threads working ahead of the feature batches."),
    max_seconds: float = typer.Option(SegmentParams.max_seconds, help="Clips are trimmed to this length."),
    segment_seconds: float = typer.Option(DEFAULT_SEGMENT_SECONDS, help="Segment length; each length is kept in "
                                          "its own <store>/<N>s/."),
    rebuild: bool = typer.Option(False, help="Discard the store and extract everything again."),
    engine: str = ENGINE_OPTION,
    ray_address: str = RAY_ADDRESS_OPTION,
    ray_actors: int = RAY_ACTORS_OPTION,
    ray_gpus: float = RAY_GPUS_OPTION,
):
    """Decode every clip, cut it into segments (3 s) and cache the features in a store. With only
    --store, finishes an interrupted extraction or updates the store from its own data folder."""
    from .extract import extract as run_extract
    from .features import parse_feature_names
    from .params import embedding_params, segment_params

    params = {}
    if yamnet_handle or yamnet_weights:
        params["embedding"] = embedding_params(yamnet_handle, yamnet_weights)
    if musicnn_model:
        params["musicnn"] = MusicnnParams(musicnn_model)
    events = _FileEvents("extracting", "clips")
    try:
        result = run_extract(data, store, parse_feature_names(features) if features else None,
                             segment_params(segment_seconds, max_seconds), params, rebuild=rebuild, events=events,
                             batch_size=batch_size, workers=workers, engine=engine,
                             ray=RayParams(ray_address, ray_actors, ray_gpus))
    finally:
        events.close()
    if result.up_to_date:
        say(f"{result.store}: up to date, nothing to do ({result.clips} clips, {result.segments} segments)")
        return
    table = Table(title=f"feature store {result.store}", show_header=True)
    for column in ("feature", "array"):
        table.add_column(column)
    for name, shape in result.shapes.items():
        table.add_row(name, str((result.segments, *shape)))
    print_table(table)
    rate = f", {result.segments_extracted / result.compute_seconds:.0f} segments/s" if result.compute_seconds else ""
    timing = (f"computing features {result.compute_seconds:.1f} s{rate}; waiting for decoding "
              f"{result.decode_seconds:.1f} s" if result.engine == "local" else
              f"Ray: actors computing features {result.compute_seconds:.1f} s{rate}, tasks decoding "
              f"{result.decode_seconds:.1f} s")
    say(f"{result.clips} clips, {result.segments} segments; {result.extracted} clips extracted now, "
        f"{result.reused} resumed, {len(result.skipped)} skipped; {result.seconds:.1f} s ({timing})")


@app.command()
@cli_errors("nothing was saved (a run is written when training ends); run the command again to start over")
def train(
    input: str = typer.Option(..., "--input", help=f"Feature(s): {FEATURE_NAMES}, a comma list, or a preset: "
                              + ", ".join(f"{k} ({'+'.join(v)})" for k, v in INPUT_PRESETS.items()) + "."),
    model: str = typer.Option(..., help="Model: a name that `genre-tf models` lists (lstm, cnn, linear, ...)."),
    store: Path = typer.Option(DEFAULT_STORE, help="Feature store folder."),
    runs: Path = typer.Option(DEFAULT_RUNS, help="Where runs are saved."),
    epochs: int = typer.Option(TrainConfig.epochs, help="Most epochs; the best by --monitor is kept."),
    batch_size: int = typer.Option(TrainConfig.batch_size),
    seed: int = typer.Option(TrainConfig.seed, help="Seeds Python, NumPy, TF and the split."),
    lr: float = typer.Option(TrainConfig.learning_rate, help="Adam learning rate."),
    class_weights: bool = typer.Option(False, help="Weight classes inversely to their training frequency."),
    monitor: str = typer.Option(TrainConfig.monitor, help="Best epoch by val_loss or val_accuracy."),
    patience: int = typer.Option(TrainConfig.patience, help="Stop after this many epochs without improvement."),
    split_ratios: str = typer.Option(",".join(f"{r:g}" for r in DEFAULT_RATIOS),
                                     help="train,valid,test fractions of clips, per genre."),
    split_lists: str = typer.Option(None, help="Folder of train*/valid*/test*.txt clip lists (overrides ratios), or "
                                    f"a built-in split: {', '.join(BUILTIN_SPLITS)}."),
    cv: int = typer.Option(TrainConfig.cv, help="K-fold cross-validation over clips, stratified by genre (0: off)."),
    mixed_precision: bool = typer.Option(None, "--mixed-precision/--no-mixed-precision",
                                         help="Float16 compute." + default("on with a GPU, off on CPU")),
    segment_seconds: float = typer.Option(DEFAULT_SEGMENT_SECONDS, help="Train on the store's segments of this length."),
    augment: str = typer.Option(None, help=f"Training-batch augmentations: {', '.join(AUGMENTATIONS)} (comma list) "
                                "or none." + default("the model's, as `genre-tf models` lists")),
    backbone_weights: str = typer.Option(ModelOptions.backbone_weights, help="resnet50/xception: imagenet "
                                         "(downloaded once), a local weights file, or none (train from scratch)."),
    image_size: int = typer.Option(ModelOptions.image_size, help="resnet50/xception: side of the spectrogram image."),
    yamnet_weights: str = typer.Option(None, help="--model yamnet: yamnet.h5."
                                       + default("$GENRE_TF_YAMNET_WEIGHTS")),
    frozen_epochs: int = typer.Option(TrainConfig.frozen_epochs, help="resnet50/xception/yamnet with pretrained "
                                      "weights: epochs with the backbone frozen before its top blocks are fine-tuned "
                                      "at a tenth of --lr."),
):
    """Train one model on one feature set (or several) and evaluate it on the test clips."""
    from .models import parse_inputs
    from .params import parse_augment
    from .splits import parse_ratios
    from .train import train as run_train

    config = TrainConfig(inputs=parse_inputs(input), model=model, store=str(store), runs_dir=str(runs), epochs=epochs,
                         batch_size=batch_size, seed=seed, learning_rate=lr, class_weights=class_weights,
                         monitor=monitor, patience=patience, split_ratios=parse_ratios(split_ratios),
                         split_lists=split_lists, cv=cv, mixed_precision=mixed_precision,
                         segment_seconds=segment_seconds, augment=parse_augment(augment),
                         options=ModelOptions(backbone_weights, image_size, yamnet_weights),
                         frozen_epochs=frozen_epochs)
    result = run_train(config, _TrainEvents())
    if result.metrics:
        show_metrics(result.metrics, title=f"test metrics ({'mean ± std over folds' if cv else 'test split'})")
    else:
        say("no test split: this final run is untested (validation picked its epoch); report lists it apart", err)
    say(f"{result.parameters:,} parameters, {result.epoch_seconds:.1f} s per epoch; saved in {result.run_dir}")


class _TrainEvents:
    def info(self, message):
        say(message, err)

    def epoch(self, fold, epoch, epochs, logs, seconds):
        prefix = f"fold {fold} " if fold else ""
        say(f"{prefix}epoch {epoch}/{epochs}  loss {logs['loss']:.3f}  acc {logs['accuracy']:.3f}  "
            f"val_loss {logs['val_loss']:.3f}  val_acc {logs['val_accuracy']:.3f}  {seconds:.1f} s", err)


def show_metrics(metrics: dict, title: str) -> None:
    from .evaluate import METRICS

    table = Table(title=title)
    table.add_column("level")
    for m in METRICS:
        table.add_column(m.replace("_", " "))
    for level in ("segment", "clip"):
        values = metrics[level]
        cells = [f"{values[m]['mean']:.3f}±{values[m]['std']:.3f}" if isinstance(values[m], dict)
                 else f"{values[m]:.3f}" for m in METRICS]
        table.add_row(level, *cells)
    print_table(table)


@app.command()
@cli_errors(NOTHING_WRITTEN)
def models():
    """List the models: what each is, which inputs it takes, its default augmentation."""
    from .models import MODELS

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("model", "inputs", "augment", "what it is"):
        table.add_column(column)
    for name, spec in MODELS.items():
        inputs = ("any, several at once" if spec.multi_input else "one") + f": {', '.join(spec.features)}"
        table.add_row(name, inputs, ",".join(spec.augment) or "-", spec.description)
    print_table(table)


@app.command()
@cli_errors(NOTHING_WRITTEN)
def report(
    runs: Path = typer.Option(DEFAULT_RUNS, help="Folder of training runs."),
    reports: Path = typer.Option(DEFAULT_REPORTS, help="Where reports/<timestamp>/ is written."),
    sort: str = typer.Option(next(iter(SORT_KEYS)), help=f"Rank by: {', '.join(SORT_KEYS)}."),
    format: str = typer.Option("table", help=f"What is printed: table, {', '.join(FORMATS)}."),
):
    """Rank every finished run (grouped by data and split) and write tables and figures."""
    from .report import rank_runs, row_cells, terminal_headers, untested_line, write_report

    if format not in (*FORMATS, "table"):
        raise GenreTfError(f"--format must be table, {', '.join(FORMATS)}, not '{format}'")
    ranking = rank_runs(runs, sort)
    for line in ranking.skipped:
        say(line, err, "[yellow]skipped:[/]")
    for run in ranking.untested:
        say(untested_line(run), err, "[cyan]untested (no test split, not ranked):[/]")
    if not ranking.groups and not ranking.untested:
        raise GenreTfError(f"{runs}: no finished runs to report; train a model first (genre-tf train)")
    folder = write_report(ranking, reports)
    if format == "table":
        if len(ranking.groups) > 1:
            say(f"{len(ranking.groups)} groups of runs on different data or splits: ranked separately", err)
        for group in ranking.groups:
            table = Table(title=group.title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
            for k, column in enumerate(terminal_headers()):
                table.add_column(column, justify="left" if k in (1, 2) else "right", no_wrap=True)
            for i, run in enumerate(group.runs):
                table.add_row(*row_cells(i + 1, run, compact=True))
            print_table(table)
            for i, run in enumerate(group.runs):
                say(f"  {i + 1}: {run.path}")
    else:
        out.out(FORMATS[format](ranking), end="")
    say(f"report written to {folder} (results.md, results.csv, ranking.json, figures)", err)


RUN_OPTION = typer.Option("best", help="A run directory, or 'best': the top run of the last report.")
REPORTS_OPTION = typer.Option(DEFAULT_REPORTS, help="Where the last report is (for --run best).")
YAMNET_HANDLE_OPTION = typer.Option(None, help="Where to load YAMNet from, if the run's is not reachable.")
YAMNET_WEIGHTS_OPTION = typer.Option(None, help="yamnet.h5, if the run's is not reachable (for an export: "
                                     "YAMNet as builtin LiteRT ops, where the TF-Hub model needs TF ops).")


def load_predictor(run: str, reports: Path, yamnet_handle: str | None, yamnet_weights: str | None):
    """The run behind --run, ready to label audio; says which it is."""
    from .params import embedding_params
    from .predict import Predictor
    from .report import resolve_run

    yamnet = embedding_params(yamnet_handle, yamnet_weights) if yamnet_handle or yamnet_weights else None
    predictor = Predictor(resolve_run(run, reports), yamnet)
    folds = f", an ensemble of its {len(predictor.models)} fold models" if len(predictor.models) > 1 else ""
    say(f"run {predictor.run.path} ({'+'.join(predictor.run.inputs)} / {predictor.run.model}{folds})", err)
    return predictor


@app.command()
@cli_errors("with --out, the songs labelled so far are kept: run the same command again to finish")
def predict(
    songs: list[Path] = typer.Argument(..., help="Audio files of any length, format, sample rate; with --out, "
                                       "one folder: every song under it."),
    run: str = RUN_OPTION,
    reports: Path = REPORTS_OPTION,
    top: int = typer.Option(3, help="How many genres to show."),
    hop: float = typer.Option(None, help="Seconds between window starts."
                              + default("the window length, 3 s")),
    json_output: bool = typer.Option(False, "--json", help="Print JSON with per-window probabilities."),
    table: Path = typer.Option(None, "--out", help="Label a whole folder into a table (.parquet or .csv), one row "
                             "per song; resumable: songs already in it are skipped."),
    windows: bool = typer.Option(False, "--windows", help="With --out: one row per window too, in a "
                                 "second table beside it (predictions.windows.parquet for predictions.parquet)."),
    engine: str = ENGINE_OPTION,
    ray_address: str = RAY_ADDRESS_OPTION,
    ray_actors: int = RAY_ACTORS_OPTION,
    ray_gpus: float = RAY_GPUS_OPTION,
    yamnet_handle: str = YAMNET_HANDLE_OPTION,
    yamnet_weights: str = YAMNET_WEIGHTS_OPTION,
):
    """Label songs with a trained run: top genres with probabilities, averaged over 3 s windows. With
    --out, every song under a folder, into a table."""
    import json

    from .errors import require

    require(top >= 1, f"--top must be at least 1, not {top}")
    if table is not None:
        require(not json_output, "--json prints and --out writes a table: choose one")
        require(len(songs) == 1 and songs[0].is_dir(), "--out labels every song under one folder: give one folder")
        return label_folder(songs[0], table, run, reports, top, hop, windows, engine,
                            RayParams(ray_address, ray_actors, ray_gpus), yamnet_handle, yamnet_weights)
    require(engine == ENGINES[0], f"--engine {engine} labels a folder into a table: give --out predictions.parquet")
    require(not windows, "--windows goes with --out (a table of every song under a folder)")
    for song in songs:
        require(not song.is_dir(), f"{song}: a folder; label every song under it with --out predictions.parquet "
                                   "(or .csv)")
    predictor = load_predictor(run, reports, yamnet_handle, yamnet_weights)
    predictor.check_hop(hop)
    results, failed = [], 0
    for song in songs:
        try:
            prediction = predictor.predict(song, hop)
        except GenreTfError as e:
            say(str(e), err, "[red]skipped:[/]")
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
                 engine: str, ray: RayParams, yamnet_handle: str | None, yamnet_weights: str | None) -> None:
    """`predict FOLDER --out TABLE`: every song under the folder, labelled into the table."""
    from .library import label_library
    from .params import embedding_params
    from .report import resolve_run

    yamnet = embedding_params(yamnet_handle, yamnet_weights) if yamnet_handle or yamnet_weights else None
    events = _FileEvents("labelling", "songs")
    try:
        result = label_library(resolve_run(run, reports), folder, table, hop, windows, top, engine, ray, yamnet, events)
    finally:
        events.close()
    written = f"{result.out}" + (f" and {result.windows_out}" if result.windows_out else "")
    say(f"{result.songs} songs in {written}; {result.labelled - len(result.failed)} labelled now, "
        f"{len(result.failed)} failed (their rows say why), {result.kept} kept from before; {result.seconds:.1f} s")
    if result.failed and len(result.failed) == result.labelled:
        raise typer.Exit(1)


@app.command()
@cli_errors("nothing was written; an earlier export in --out is kept")
def export(
    out_dir: Path = typer.Option(..., "--out", help="Folder for saved_model/, model.tflite and export.json."),
    run: str = RUN_OPTION,
    reports: Path = REPORTS_OPTION,
    formats: str = typer.Option(",".join(EXPORT_FORMATS), "--format", help="A comma list of formats."),
    yamnet_handle: str = YAMNET_HANDLE_OPTION,
    yamnet_weights: str = YAMNET_WEIGHTS_OPTION,
):
    """Export a run as a model that takes a raw waveform (16 kHz mono, any length) and returns genre
    probabilities per 3 s window and for the whole song; loadable by TensorFlow alone."""
    from .errors import parse_names
    from .export import export_run

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
    yamnet_handle: str = YAMNET_HANDLE_OPTION,
    yamnet_weights: str = YAMNET_WEIGHTS_OPTION,
):
    """A web page to label your own songs (drop a file, see the genres over time), and a JSON API."""
    from .errors import require

    try:
        from .serve import serve as run_server
    except ImportError as e:
        raise GenreTfError(f"serve needs its extra: pip install 'genre-tf[serve]' ({e.name} is missing)") from None
    require(max_upload_mb > 0, f"--max-upload-mb must be positive, not {max_upload_mb:g}")
    params = ServeParams(host=host, port=port, max_upload_mb=max_upload_mb)
    predictor = load_predictor(run, reports, yamnet_handle, yamnet_weights)
    say(f"genre-tf is listening on http://{host}:{port}/ (Ctrl-C stops it)", err)
    run_server(predictor, params)


@app.command()
@cli_errors("the clips written so far are kept; run the same command again to finish")
def synth(
    out_dir: Path = typer.Option(..., "--out", help="Folder to write <genre>/<clip>.wav into."),
    genres: int = typer.Option(10, help="Number of genres (at most 10)."),
    clips: int = typer.Option(10, help="Clips per genre."),
    seconds: float = typer.Option(30.0, help="Length of each clip."),
    seed: int = typer.Option(0, help="Same seed, same audio."),
):
    """Write a synthetic labelled dataset of generated music (what the tests and the demo use)."""
    from .synth import synthesize

    with progress_bar(transient=True) as progress:
        task = progress.add_task("synthesizing", total=genres * clips, rate="")
        paths = synthesize(out_dir, genres, clips, seconds, seed, on_clip=lambda p: progress.advance(task))
    say(f"{len(paths)} clips in {out_dir}")


@app.command("download-yamnet")
@cli_errors("nothing usable was written; run the same command again")
def download_yamnet(
    out_dir: Path = typer.Option(Path("models/yamnet"), "--out", help="Folder for savedmodel/ and yamnet.h5."),
    handle: str = typer.Option(YAMNET_HUB_HANDLE, help="TF-Hub handle."),
):
    """Fetch YAMNet once (needs internet) for offline use: the hub SavedModel and the Keras weights."""
    from .features.embedding import download_yamnet as fetch
    from .features.yamnet_keras import YAMNET_WEIGHTS_URL

    savedmodel, weights = fetch(handle, YAMNET_WEIGHTS_URL, out_dir)
    say(f"YAMNet saved: --yamnet-weights {weights} (batched, fast) or --yamnet-handle {savedmodel}; "
        f"or set GENRE_TF_YAMNET_WEIGHTS / GENRE_TF_YAMNET_HANDLE")
