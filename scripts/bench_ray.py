"""Throughput of the two engines side by side on one dataset: `extract` (segments/s) and, with --run,
labelling the same clips as a library (`predict FOLDER --out`, windows/s).

    python scripts/bench_ray.py --clips 100 --yamnet-weights ../shared/models/yamnet/yamnet.h5
    python scripts/bench_ray.py --data ../shared/data/gtzan-sample --run saved_models/<run> ...

Each engine is timed twice: the whole call ("end to end": for Ray, starting a local Ray and its
actors, which load their models, is in it), and "steady" (from the first finished file to the last:
the rate once everything is loaded, what a long library run sees). Ray runs as a user would start
it: `ray.init()` on this machine's cores, inside the call. Appends its table to docs/benchmarks.md
(--no-record to skip).
"""
from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from genre_tf.config import ENGINES, EXTRACT_BATCH_SIZE, EmbeddingParams, resolve_handle
from genre_tf.workflows.events import FileEvents
from genre_tf.workflows.extract import extract
from genre_tf.workflows.library import label_library
from genre_tf.workflows.synth import synthesize


@dataclasses.dataclass
class Row:
    what: str
    engine: str
    units: int  # segments or windows
    seconds: float  # the whole call
    steady_units: int
    steady_seconds: float

    def cells(self) -> list[str]:
        steady = f"{self.steady_units / self.steady_seconds:.0f}" if self.steady_seconds > 0 else "-"
        return [self.what, self.engine, str(self.units), f"{self.seconds:.1f}", f"{self.units / self.seconds:.0f}",
                steady]


class Stopwatch(FileEvents):
    """When each file finished, and how many segments or windows it had."""

    def __init__(self):
        self.finished: list[tuple[float, int]] = []

    def clip_done(self, clip, count):
        self.finished.append((time.perf_counter(), count))

    def steady(self) -> tuple[int, float]:
        """Units after the first finished file, and the time from it to the last."""
        if len(self.finished) < 2:
            return 0, 0.0
        return sum(n for _, n in self.finished[1:]), self.finished[-1][0] - self.finished[0][0]


def timed(what: str, engine: str, call) -> Row:
    watch = Stopwatch()
    started = time.perf_counter()
    call(watch)
    seconds = time.perf_counter() - started
    return Row(what, engine, sum(n for _, n in watch.finished), seconds, *watch.steady())


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    return f"{cpu}, {os.cpu_count()} cores"


def main(data: Path = typer.Option(None, help="Benchmark on this dataset instead of a generated one."),
         clips: int = typer.Option(100, help="Generated dataset: clips in all (10 genres)."),
         seconds: float = typer.Option(30.0, help="Generated dataset: seconds per clip."),
         features: str = typer.Option("embedding,logmel,mfcc", help="Features to extract."),
         yamnet_weights: str = typer.Option(None, help="yamnet.h5, for the embedding."),
         run: Path = typer.Option(None, help="A run: also label the clips as a library with it."),
         batch_size: int = typer.Option(EXTRACT_BATCH_SIZE),
         record: bool = typer.Option(True, help="Append the result to docs/benchmarks.md.")):
    names = [n.strip() for n in features.split(",")]
    params = {"embedding": EmbeddingParams(None, resolve_handle(yamnet_weights))} if yamnet_weights else {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if data is None:
            data = Path(tmp) / "music"
            synthesize(data, genres=10, clips=max(1, clips // 10), seconds=seconds, seed=0)
        for engine in ENGINES:
            rows.append(timed(f"extract {'+'.join(names)}", engine, lambda events, engine=engine: extract(
                data, Path(tmp) / engine, names, feature_params=params, batch_size=batch_size, engine=engine,
                events=events)))
        if run:
            for engine in ENGINES:
                rows.append(timed(f"predict FOLDER --out ({run.name})", engine, lambda events, engine=engine:
                                  label_library(run, data, Path(tmp) / f"{engine}.parquet", engine=engine,
                                                events=events)))
    columns = ["what", "engine", "segments", "seconds", "segments/s end to end", "segments/s steady"]
    table = Table(title=f"{data if data.exists() else 'generated data'}; {machine()}")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row.cells())
    Console(width=160).print(table)
    if record:
        command = "python scripts/bench_ray.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        lines = [f"\n## {time.strftime('%Y-%m-%d')}: local engine and Ray engine", f"\nMachine: {machine()}. "
                 f"Command: `{command}`\n", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
        lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
        docs = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
        with open(docs, "a") as f:
            f.write("\n".join(lines) + "\n")
        print(f"recorded in {docs}")


if __name__ == "__main__":
    typer.run(main)
