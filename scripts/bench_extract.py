"""Extraction throughput, side by side in one run: the per-segment TF-Hub loop that notebooks use
versus genre-tf's extraction (all features together, batched YAMNet, decoding threads).

    python scripts/bench_extract.py --clips 200 --seconds 30 \\
        --yamnet-handle ../shared/models/yamnet/savedmodel --yamnet-weights ../shared/models/yamnet/yamnet.h5
    python scripts/bench_extract.py --data data/music ...        # your own dataset

Prints segments per second of each, their ratio, peak RSS of each phase and the machine, and
appends the table to docs/benchmarks.md with the command that made it (--no-record to skip).
"""
from __future__ import annotations

import os
import platform
import re
import shlex
import sys
import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from genre_tf.audio import load_audio, split_segments
from genre_tf.dataset import discover
from genre_tf.extract import extract
from genre_tf.features.embedding import load_yamnet
from genre_tf.params import EmbeddingParams, SegmentParams, resolve_handle
from genre_tf.synth import synthesize
from genre_tf.tf import tf


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


def hub_loop(data: Path, handle: str) -> tuple[int, float]:
    """What every notebook does: decode a clip, then one hub call per 3 s segment."""
    model = load_yamnet(handle)
    segments = 0
    started = time.perf_counter()
    for clip in discover(data).clips:
        for segment in split_segments(load_audio(clip.path).samples, SegmentParams()):
            model(tf.convert_to_tensor(segment))[1].numpy()
            segments += 1
    return segments, time.perf_counter() - started


def main(data: Path = typer.Option(None, help="Benchmark on this dataset instead of a generated one."),
         clips: int = typer.Option(200, help="Generated dataset: clips in all (10 genres)."),
         seconds: float = typer.Option(30.0, help="Generated dataset: seconds per clip."),
         yamnet_handle: str = typer.Option(..., help="TF-Hub handle or SavedModel folder (the reference loop)."),
         yamnet_weights: str = typer.Option(..., help="yamnet.h5 (genre-tf's batched network)."),
         batch_size: int = typer.Option(64), workers: int = typer.Option(2),
         record: bool = typer.Option(True, help="Append the result to docs/benchmarks.md.")):
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        if data is None:
            data = Path(tmp) / "music"
            console.print(f"generating {clips} clips of {seconds:g} s ...")
            synthesize(data, genres=10, clips=max(1, clips // 10), seconds=seconds, seed=0)

        reset_peak_rss()
        loop_segments, loop_seconds = hub_loop(data, resolve_handle(yamnet_handle))
        loop_peak = peak_rss_mb()

        reset_peak_rss()
        started = time.perf_counter()
        result = extract(data, Path(tmp) / "store", ["embedding", "logmel", "mfcc"],
                         feature_params={"embedding": EmbeddingParams(handle=None,
                                                                      weights=resolve_handle(yamnet_weights))},
                         batch_size=batch_size, workers=workers)
        ours_seconds = time.perf_counter() - started
        ours_peak = peak_rss_mb()

    loop_rate = loop_segments / loop_seconds
    ours_rate = result.segments / ours_seconds
    rows = [("per-segment hub loop: embedding only (decode + 1 call per segment)", loop_rate, 1.0, loop_peak),
            ("genre-tf extract: embedding + logmel + mfcc, end to end", ours_rate, ours_rate / loop_rate, ours_peak)]
    rows += [(f"genre-tf extract: {name} compute only", result.segments_extracted / s, None, None)
             for name, s in result.feature_seconds.items()]
    table = Table(title=f"{result.segments} segments of {result.clips} clips; {machine()}")
    for column in ("what", "segments/s", "vs hub loop", "peak RSS"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for what, rate, ratio, peak in rows:
        table.add_row(what, f"{rate:.0f}", f"{ratio:.1f}x" if ratio else "", f"{peak:.0f} MB" if peak else "")
    console.print(table)
    if record:
        command = "python scripts/bench_extract.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        lines = [f"\n## {time.strftime('%Y-%m-%d')}: {result.segments} segments of {result.clips} clips",
                 f"\nMachine: {machine()}. Command: `{command}`\n",
                 "| what | segments/s | vs hub loop | peak RSS |", "|---|---|---|---|"]
        lines += [f"| {w} | {r:.0f} | {f'{x:.1f}x' if x else ''} | {f'{p:.0f} MB' if p else ''} |"
                  for w, r, x, p in rows]
        docs = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
        if not docs.exists():
            docs.write_text("# Benchmarks\n\nExtraction throughput, made by `scripts/bench_extract.py`.\n")
        with open(docs, "a") as f:
            f.write("\n".join(lines) + "\n")
        console.print(f"recorded in {docs}")


if __name__ == "__main__":
    typer.run(main)
