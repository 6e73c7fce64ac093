"""Extraction throughput, side by side in one run: the per-segment TF-Hub loop that notebooks use,
genre-tf's YAMNet network alone on the batches extraction feeds it, and genre-tf's extraction end to
end for each feature and for all three together.

    python scripts/bench_extract.py --clips 200 --seconds 30 \\
        --yamnet-handle ../shared/models/yamnet/savedmodel --yamnet-weights ../shared/models/yamnet/yamnet.h5
    python scripts/bench_extract.py --data data/music ...        # your own dataset

Prints a table and two lines: `ratio` (all features end to end / hub loop) and `efficiency` (all
features end to end / network alone), and appends them to docs/benchmarks.md with the command that
made them (--no-record to skip).

"End to end" is `extract` from its first decoded clip to its committed store: decoding, every
feature, the shards and the commit; loading the models before it is left out, as the hub loop's is.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import re
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from genre_tf.config import (
    DECODE_WORKERS,
    DEFAULT_FEATURES,
    EXTRACT_BATCH_SIZE,
    EmbeddingParams,
    SegmentParams,
    resolve_handle,
)
from genre_tf.core.tf import tf
from genre_tf.features.embedding import load_yamnet
from genre_tf.features.logmel import log_mel
from genre_tf.features.yamnet_keras import build_yamnet, fold_batch_norm, load_yamnet_weights, log_mel_patches
from genre_tf.io.audio import load_audio, split_segments
from genre_tf.io.dataset import discover
from genre_tf.workflows.events import FileEvents
from genre_tf.workflows.extract import extract
from genre_tf.workflows.synth import synthesize


@dataclasses.dataclass
class Row:
    what: str
    segments: int
    seconds: float
    peak_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.segments / self.seconds


def reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM, so each phase's peak is its own."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_mb() -> float:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return f"{cpu}, {os.cpu_count()} cores, {'GPU ' + ', '.join(gpus) if gpus else 'no GPU'}, TF {tf.__version__}"


def hub_loop(data: Path, handle: str) -> Row:
    """What every notebook does: decode a clip, then one hub call per 3 s segment."""
    model = load_yamnet(handle)
    reset_peak_rss()
    segments = 0
    started = time.perf_counter()
    for clip in discover(data).clips:
        for segment in split_segments(load_audio(clip.path).samples, SegmentParams()):
            model(tf.convert_to_tensor(segment))[1].numpy()
            segments += 1
    return Row("per-segment hub loop: embedding only (decode + 1 call per segment)", segments,
               time.perf_counter() - started, peak_rss_mb())


def extraction_batches(data: Path, batch_size: int) -> list[tuple[int, tf.Tensor]]:
    """(segments, their log-mel patches) of the batches extraction makes (extract._run's rule: whole
    clips until `batch_size` segments)."""
    batches, pending = [], []
    for clip in discover(data).clips:
        pending.append(split_segments(load_audio(clip.path).samples, SegmentParams()))
        if sum(map(len, pending)) >= batch_size:
            batches.append(np.concatenate(pending))
            pending = []
    batches += [np.concatenate(pending)] if pending else []
    return [(len(b), log_mel_patches(log_mel(b))) for b in batches]


def network_alone(batches: list[tuple[int, tf.Tensor]], network, what: str) -> Row:
    """The network on precomputed patches: what YAMNet's forward pass costs, and nothing else."""
    first = batches[0][1]
    forward = tf.function(lambda x: network(x, training=False),
                          input_signature=[tf.TensorSpec((None, *first.shape[1:]), tf.float32)])
    forward(first).numpy()  # trace once, outside the timing
    started = time.perf_counter()
    for _, patches in batches:
        forward(patches).numpy()
    return Row(what, sum(n for n, _ in batches), time.perf_counter() - started)


class _Clock(FileEvents):
    """Starts when the extractors are loaded and the first clip is about to be decoded."""

    started: float | None = None

    def start(self, total_clips: int) -> None:
        self.started = time.perf_counter()


def end_to_end(data: Path, store: Path, features: tuple[str, ...], weights: str, batch_size: int,
               workers: int) -> Row:
    clock = _Clock()
    reset_peak_rss()
    result = extract(data, store, list(features), feature_params={"embedding": EmbeddingParams(None, weights)},
                     events=clock, batch_size=batch_size, workers=workers)
    seconds = time.perf_counter() - clock.started
    waited = f"; waited for decoding {result.decode_seconds:.1f} s of {seconds:.1f} s"
    return Row(f"genre-tf extract end to end: {' + '.join(features)}{waited}", result.segments, seconds,
               peak_rss_mb())


def measure(data: Path, tmp: Path, handle: str, weights: str, batch_size: int, workers: int) -> list[Row]:
    rows = [hub_loop(data, handle)]
    network = build_yamnet()
    load_yamnet_weights(network, weights)
    batches = extraction_batches(data, batch_size)
    rows.append(network_alone(batches, fold_batch_norm(network),
                              "YAMNet network alone, as genre-tf runs it (batch norm folded), same batches"))
    rows.append(network_alone(batches, network, "YAMNet network alone, Keras as built (batch norm ops), same batches"))
    del batches
    for features in [(name,) for name in DEFAULT_FEATURES] + [DEFAULT_FEATURES]:
        rows.append(end_to_end(data, tmp / "-".join(features), features, weights, batch_size, workers))
    return rows


def summary(rows: list[Row]) -> list[str]:
    hub, network, everything = rows[0], rows[1], rows[-1]
    return [f"ratio {everything.rate / hub.rate:.2f} (all features end to end {everything.rate:.0f}/s "
            f"/ hub loop {hub.rate:.0f}/s)",
            f"efficiency {everything.rate / network.rate:.2f} (all features end to end {everything.rate:.0f}/s "
            f"/ network alone {network.rate:.0f}/s)"]


def markdown(rows: list[Row], command: str) -> str:
    hub, network = rows[0], rows[1]
    lines = [f"\n## {time.strftime('%Y-%m-%d')}: {rows[-1].segments} segments",
             f"\nMachine: {machine()}. Command: `{command}`\n",
             "| what | segments/s | vs hub loop | vs network alone | peak RSS |", "|---|---|---|---|---|"]
    lines += [f"| {r.what} | {r.rate:.0f} | {r.rate / hub.rate:.2f}x | {r.rate / network.rate:.2f}x | "
              f"{f'{r.peak_mb:.0f} MB' if r.peak_mb else ''} |" for r in rows]
    return "\n".join(lines + [""] + [f"    {line}" for line in summary(rows)]) + "\n"


def main(data: Path = typer.Option(None, help="Benchmark on this dataset instead of a generated one."),
         clips: int = typer.Option(200, help="Generated dataset: clips in all (10 genres)."),
         seconds: float = typer.Option(30.0, help="Generated dataset: seconds per clip."),
         yamnet_handle: str = typer.Option(..., help="TF-Hub handle or SavedModel folder (the reference loop)."),
         yamnet_weights: str = typer.Option(..., help="yamnet.h5 (genre-tf's batched network)."),
         batch_size: int = typer.Option(EXTRACT_BATCH_SIZE), workers: int = typer.Option(DECODE_WORKERS),
         record: bool = typer.Option(True, help="Append the result to docs/benchmarks.md.")):
    console = Console(width=160)
    with tempfile.TemporaryDirectory() as tmp:
        if data is None:
            data = Path(tmp) / "music"
            console.print(f"generating {clips} clips of {seconds:g} s ...")
            synthesize(data, genres=10, clips=max(1, clips // 10), seconds=seconds, seed=0)
        rows = measure(data, Path(tmp), resolve_handle(yamnet_handle), resolve_handle(yamnet_weights), batch_size,
                       workers)
    table = Table(title=f"{rows[-1].segments} segments; {machine()}")
    for column in ("what", "segments/s", "vs hub loop", "vs network alone", "peak RSS"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for r in rows:
        table.add_row(r.what, f"{r.rate:.0f}", f"{r.rate / rows[0].rate:.2f}x", f"{r.rate / rows[1].rate:.2f}x",
                      f"{r.peak_mb:.0f} MB" if r.peak_mb else "")
    console.print(table)
    for line in summary(rows):
        print(line)
    if record:
        command = "python scripts/bench_extract.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        docs = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
        with open(docs, "a") as f:
            f.write(markdown(rows, command))
        console.print(f"recorded in {docs}")


if __name__ == "__main__":
    typer.run(main)
