"""Parameter count and seconds per epoch of every model x input pair on a feature store.

    python scripts/bench_models.py --store features/ --epochs 3

Each pair is trained for --epochs epochs through genre-tf's own `train` (same pipeline, same
batches); seconds per epoch is the mean over epochs after the first (which also traces the graph).
"""
from __future__ import annotations

import os
import platform
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from genre_tf.config import DEFAULT_SEGMENT_SECONDS, ModelOptions, TrainConfig
from genre_tf.core.tf import tf
from genre_tf.io.store import FeatureStore
from genre_tf.models import MODELS, input_choices, parse_inputs

# Every model with every input it accepts, as the contract test trains them.
from genre_tf.workflows.train import train

PAIRS = [(m, ",".join(i)) for m in MODELS for i in input_choices(m)]


def main(store: Path = typer.Option(Path("features"), help="Feature store to train on."),
         epochs: int = typer.Option(3, help="Epochs per pair (the first is not timed)."),
         batch_size: int = typer.Option(64),
         only: str = typer.Option(None, help="Comma list of model:input pairs, e.g. cnn:mfcc,lstm:logmel."),
         segment_seconds: float = typer.Option(DEFAULT_SEGMENT_SECONDS, help="Which of the store's segment lengths."),
         backbone_weights: str = typer.Option("none", help="resnet50/xception: none (everything trains), imagenet "
                                              "or a file (frozen, then fine-tuned: faster epochs)."),
         image_size: int = typer.Option(224, help="resnet50/xception image side.")):
    pairs = [tuple(p.split(":")) for p in only.split(",")] if only else PAIRS
    segments = FeatureStore(store, segment_seconds)
    available = set(segments.feature_names)
    devices = ", ".join(d.name for d in tf.config.list_physical_devices("GPU")) or "no GPU"
    table = Table(title=f"{store} ({segment_seconds:g} s): {len(segments)} segments; "
                        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {devices}")
    for column in ("model", "input", "parameters", "s/epoch"):
        table.add_column(column, justify="right" if column in ("parameters", "s/epoch") else "left")
    with tempfile.TemporaryDirectory() as runs:
        for model, inputs in pairs:
            names = parse_inputs(inputs)
            if not set(names) <= available or model not in MODELS:
                table.add_row(model, inputs, "-", "not in store")
                continue
            result = train(TrainConfig(inputs=names, model=model, store=str(store), runs_dir=runs, epochs=epochs,
                                       patience=epochs, batch_size=batch_size, segment_seconds=segment_seconds,
                                       options=ModelOptions(backbone_weights, image_size)))
            table.add_row(model, inputs, f"{result.parameters:,}", f"{result.epoch_seconds:.1f}")
    Console().print(table)


if __name__ == "__main__":
    typer.run(main)
