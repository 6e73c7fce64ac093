"""Commands about models: `train` one, list the `models`, `report` every trained run ranked."""
from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.table import Table

from ..config import (
    AUGMENTATIONS,
    DEFAULT_RATIOS,
    DEFAULT_REPORTS,
    DEFAULT_RUNS,
    DEFAULT_SEGMENT_SECONDS,
    DEFAULT_STORE,
    RANDOM_SPLIT,
    ModelOptions,
    TrainConfig,
)
from ..core.errors import GenreTfError
from ..features import FEATURES, INPUT_PRESETS
from ..io.runs import LEVELS, METRICS, Metrics
from ..io.splits import BUILTIN_SPLITS
from ..workflows.report import DEFAULT_SORT, FORMATS, SORT_KEYS
from .app import app, path_text
from .console import NOTHING_WRITTEN, TrainProgress, cli_errors, default, err, out, print_table, say


@app.command()
@cli_errors("nothing was saved (a run is written when training ends); run the command again to start over")
def train(
    input: str = typer.Option(..., "--input", help=f"Feature(s): {', '.join(FEATURES)}, a comma list, or a preset: "
                              + ", ".join(f"{k} ({'+'.join(v)})" for k, v in INPUT_PRESETS.items()) + "."),
    model: str = typer.Option(..., help="Model: a name that `genre-tf models` lists (lstm, cnn, linear, ...)."),
    store: Path = typer.Option(Path(DEFAULT_STORE), help="Feature store folder.", parser=path_text),
    runs: Path = typer.Option(Path(DEFAULT_RUNS), help="Where runs are saved.", parser=path_text),
    epochs: int = typer.Option(TrainConfig.epochs, help="Most epochs; the best by --monitor is kept."),
    batch_size: int = typer.Option(TrainConfig.batch_size),
    seed: int = typer.Option(TrainConfig.seed, help="Seeds Python, NumPy, TF and the split."),
    lr: float = typer.Option(TrainConfig.learning_rate, help="Adam learning rate."),
    class_weights: bool = typer.Option(TrainConfig.class_weights,
                                       help="Weight classes inversely to their training frequency."),
    monitor: str = typer.Option(TrainConfig.monitor, help="Best epoch by val_loss or val_accuracy."),
    patience: int = typer.Option(TrainConfig.patience, help="Stop after this many epochs without improvement."),
    split_ratios: str = typer.Option(None, help="train,valid,test fractions of clips, per genre, for a random split."
                                     + default(",".join(f"{r:g}" for r in DEFAULT_RATIOS))),
    split_lists: str = typer.Option(None, help="Folder of train*/valid*/test*.txt clip lists (overrides ratios), "
                                    f"a built-in split: {', '.join(BUILTIN_SPLITS)}, labels (or fma): the split "
                                    "the store's labels carry (a labels CSV's split column, FMA's official one), "
                                    f"or {RANDOM_SPLIT}." + default("the labels' split where they carry one (and no "
                                                                   "--split-ratios is given), else random")),
    cv: int = typer.Option(TrainConfig.cv, help="K-fold cross-validation over clips, stratified by genre (0: off)."),
    mixed_precision: bool = typer.Option(None, "--mixed-precision/--no-mixed-precision",
                                         help="Float16 compute." + default("on with a GPU, off on CPU")),
    segment_seconds: float = typer.Option(DEFAULT_SEGMENT_SECONDS,
                                          help="Train on the store's segments of this length."),
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
    refit: bool = typer.Option(None, "--refit/--no-refit", help="Once the valid clips have chosen the epoch, train "
                               "again on train+valid for that many epochs (the test clips are never seen)."
                               + default("on for linear and mlp, off for the others")),
):
    """Train one model on one feature set (or several) and evaluate it on the test clips."""
    from ..config import parse_augment
    from ..io.splits import parse_ratios
    from ..models import parse_inputs
    from ..workflows.train import train as run_train

    config = TrainConfig(inputs=parse_inputs(input), model=model, store=str(store), runs_dir=str(runs), epochs=epochs,
                         batch_size=batch_size, seed=seed, learning_rate=lr, class_weights=class_weights,
                         monitor=monitor, patience=patience,
                         split_ratios=parse_ratios(split_ratios) if split_ratios else DEFAULT_RATIOS,
                         split_lists=split_lists or (RANDOM_SPLIT if split_ratios and not cv else None), cv=cv,
                         mixed_precision=mixed_precision,
                         segment_seconds=segment_seconds, augment=parse_augment(augment),
                         options=ModelOptions(backbone_weights, image_size, yamnet_weights),
                         frozen_epochs=frozen_epochs, refit=refit)
    result = run_train(config, TrainProgress())
    if result.metrics.tested:
        show_metrics(result.metrics, title=f"test metrics ({'mean ± std over folds' if cv else 'test split'})")
    else:
        say("no test split: this final run is untested (validation picked its epoch); report lists it apart", err)
    speed = f"fit in {result.epoch_seconds:.1f} s" if result.exact else f"{result.epoch_seconds:.1f} s per epoch"
    say(f"{result.parameters:,} parameters, {speed}; saved in {result.run_dir}")


def show_metrics(metrics: Metrics, title: str) -> None:
    table = Table(title=title)
    table.add_column("level")
    for m in METRICS:
        table.add_column(m.replace("_", " "))
    for level in LEVELS:
        spreads = [metrics.spread(level, m) for m in METRICS]
        cells = [f"{metrics.value(level, m):.3f}" + ("" if spread is None else f"±{spread:.3f}")
                 for m, spread in zip(METRICS, spreads)]
        table.add_row(level, *cells)
    print_table(table)


@app.command()
@cli_errors(NOTHING_WRITTEN)
def models():
    """List the models: what each is, which inputs it takes, its default augmentation."""
    from ..models import MODELS

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
    runs: Path = typer.Option(Path(DEFAULT_RUNS), help="Folder of training runs.", parser=path_text),
    reports: Path = typer.Option(Path(DEFAULT_REPORTS), help="Where reports/<timestamp>/ is written.",
                                 parser=path_text),
    sort: str = typer.Option(DEFAULT_SORT, help=f"Rank by: {', '.join(SORT_KEYS)}."),
    format: str = typer.Option("table", help=f"What is printed: table, {', '.join(FORMATS)}."),
):
    """Rank every finished run (grouped by data and split) and write tables and figures."""
    from ..workflows.report import rank_runs, row_cells, terminal_headers, ties_line, untested_line, write_report

    if format not in (*FORMATS, "table"):
        raise GenreTfError(f"`format` must be table, {', '.join(FORMATS)}, not '{format}'")
    ranking = rank_runs(runs, sort)
    for line in ranking.skipped:
        say(line, err, "[yellow]skipped:[/]")
    for run in ranking.untested:
        say(untested_line(run), err, "[cyan]untested (no test split, not ranked):[/]")
    folder = write_report(ranking, reports)
    if format == "table":
        if len(ranking.groups) > 1:
            say(f"{len(ranking.groups)} groups of runs on different data or splits: ranked separately", err)
        for group in ranking.groups:
            table = Table(title=group.title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
            for k, column in enumerate(terminal_headers()):
                table.add_column(column, justify="left" if k in (1, 2) else "right", no_wrap=True)
            for i, (run, standing) in enumerate(zip(group.runs, group.standings)):
                table.add_row(*row_cells(i + 1, run, standing, compact=True))
            print_table(table)
            ties = ties_line(group)
            if ties:
                say(ties)
            for i, run in enumerate(group.runs):
                say(f"  {i + 1}: {run.path}")
    else:
        out.out(FORMATS[format](ranking), end="")
    say(f"report written to {folder} (results.md, results.csv, ranking.json, figures)", err)
