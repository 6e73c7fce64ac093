"""Labelling many songs with a trained run, through an engine: `predict FILE...` (`label_songs`) and
`predict FOLDER --out TABLE` (`label_library`: every song under a folder, at any depth, length and
supported format, into a prediction table).

The table is resumable: songs already in it, from files unchanged since, are skipped. Each song is
decoded once (`all_song_windows`), its windows batched with other songs' by the engine (`local`: in
this process; `ray`: decoding tasks and actors that each hold the run once). A bad file is one row
with its cause, and the run goes on.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..config import (
    DECODE_WORKERS,
    DEFAULT_MAX_WINDOWS,
    ENGINES,
    RUNTIMES,
    TOP_GENRES,
    WINDOW_BATCH,
    EmbeddingParams,
    RayParams,
)
from ..core.errors import first_line, require
from ..core.files import fingerprint
from ..engines import Engine, LocalEngine, make_engine
from ..io.dataset import find_songs
from ..io.prediction_table import Prediction, PredictionTable, check_out
from ..io.runs import load_run
from ..io.tags import TagProblem, read_genres
from .events import FileEvents
from .litert import check_runtime, choose_runtime, gpu_visible
from .songs import Classifier, all_song_windows, check_hop, check_max_windows


@dataclasses.dataclass
class LibraryResult:
    out: Path
    windows_out: Path | None
    songs: int  # in the table now
    labelled: int  # in this run
    kept: int  # from an earlier run
    failed: list[str]  # why, for each song of this run that could not be labelled
    seconds: float
    # compare_tags: songs whose tag disagrees with a confident prediction, the most confident first:
    # (path, tagged genre, predicted genre, probability)
    disagreements: list[tuple[str, str, str, float]] = dataclasses.field(default_factory=list)
    rows: list[dict] = dataclasses.field(default_factory=list)  # the table's song rows, by path


# What labelling yields for each song, in the order the engine finishes them: (its index in the list
# of songs, its prediction, None), or (index, None, why it failed).
Labelled = tuple[int, Prediction | None, str | None]


@contextlib.contextmanager
def label_songs(run_dir: str | Path, songs: list[str | Path], hop_seconds: float | None = None,
                engine: Engine = LocalEngine(), yamnet: EmbeddingParams | None = None,
                info: Callable[[str], None] = lambda message: None,
                max_windows: int = DEFAULT_MAX_WINDOWS, runtime: str = RUNTIMES[0]) -> Iterator[Iterator[Labelled]]:
    """`with label_songs(run, songs) as labelled:` each song's prediction, from windows one every
    `hop_seconds` (default: the window length), at most `max_windows` of them spread over the song (0:
    every window). The run is loaded on entering, so that one that cannot load fails before any song.
    `yamnet` replaces the run's YAMNet source (moved or unreachable).

    Songs come back in the order the engine finishes them, each decoded once. A song that cannot be labelled
    comes back with its cause; the others go on.

    Args:
        run_dir: the run's folder.
        songs: the audio files, paths.
        hop_seconds: seconds between window starts, from 0.1 s to the window length; None: the window length.
        engine: where the work runs (`make_engine`); the local engine with two decoding threads by default.
        yamnet: replaces the run's YAMNet source; None: the run's own.
        info: called with each line of progress the engine has (Ray's: where its actors are placed).
        max_windows: the most windows a song is labelled from, spread over it, its first and last tenth (at
            most 10 s) left out where it is long enough; 0: every window.
        runtime: "auto" (LiteRT where the run converts, made once per run; else TensorFlow, said through
            `info`), "litert" or "tensorflow".

    Returns:
        A context manager; entered, an iterator of (index in `songs`, the `Prediction` or None, None or why the
            song could not be labelled).

    Raises:
        GenreTfError: the run cannot be loaded, or `hop_seconds` or `max_windows` is out of range.
        ModelUnavailableError: YAMNet or musicnn's weights cannot be loaded.
    """
    run = load_run(run_dir)
    segment = run.segment
    check_hop(segment, hop_seconds)
    check_max_windows(max_windows)
    paths = [str(song) for song in songs]
    decode = functools.partial(all_song_windows, segment=segment, hop_seconds=hop_seconds, max_windows=max_windows)
    check_runtime(runtime)
    chosen = choose_runtime(run.path, yamnet, runtime, info) if paths else RUNTIMES[-1]
    with engine.map_windows(paths, decode, Classifier(str(run.path.resolve()), yamnet, chosen), WINDOW_BATCH,
                            segment.segment_samples, info) as finished:
        yield ((done.item, None if done.error else Prediction.of_windows(
            paths[done.item], run.genres, done.starts, done.arrays["probabilities"], done.notes), done.error)
            for done in finished)


def label_library(run_dir: str | Path, folder: str | Path, out: str | Path, hop_seconds: float | None = None,
                  windows: bool = False, top: int = TOP_GENRES, engine: str = ENGINES[0],
                  ray: RayParams = RayParams(), yamnet: EmbeddingParams | None = None,
                  events: FileEvents = FileEvents(), workers: int = DECODE_WORKERS,
                  compare_tags: bool = False, max_windows: int = DEFAULT_MAX_WINDOWS,
                  runtime: str = RUNTIMES[0]) -> LibraryResult:
    """Label every song under `folder` with the run in `run_dir` into the table `out`, each from at most
    `max_windows` windows (0: every window); per-window rows too with `windows`. `yamnet` replaces the
    run's YAMNet source (moved or unreachable). `compare_tags`:
    each song's genre tag beside its prediction, and the songs whose tag a confident prediction
    disagrees with (the table only; `tagging.write_tags` writes tags).

    The table is resumable: songs already in it whose files are unchanged are not labelled again, and an
    interrupted call loses at most the songs since its last flush. A song that cannot be labelled is a row
    with its cause, and the rest go on.

    Args:
        run_dir: the run's folder.
        folder: the folder of songs, searched at any depth.
        out: the prediction table: a .csv or .parquet file.
        hop_seconds: seconds between window starts, from 0.1 s to the window length; None: the window length.
        windows: also write one row per window, into `<out stem>.windows<suffix>` beside `out`.
        top: the genres with their probabilities in each row (genre_1, probability_1, ...).
        engine: "local" (this process) or "ray" (a Ray cluster).
        ray: the Ray engine's cluster and actors.
        yamnet: replaces the run's YAMNet source; None: the run's own.
        events: told of progress and of each problem; silent by default.
        workers: the local engine's decoding threads.
        compare_tags: add each song's genre tag, and flag the songs whose tag disagrees with a prediction at
            least 0.5 sure.
        max_windows: the most windows a song is labelled from, spread over it; 0: every window.
        runtime: "auto" (LiteRT where the run converts; TensorFlow where it does not, on a machine with a GPU,
            or with the Ray engine, whose actors hold the model), "litert" or "tensorflow".

    Returns:
        A `LibraryResult`: the table's path (and the windows table's), the songs in it, labelled now, kept from
            before and failed, the time taken, the disagreements with tags (the most confident first) and the
            table's rows.

    Raises:
        GenreTfError: a bad argument, a run that cannot be loaded, a table that is not a prediction table, was
            made by another run or hop, or is being written by another process.
        DatasetError: `folder` does not exist or is not a readable folder.
        ModelUnavailableError: YAMNet or musicnn's weights cannot be loaded.
    """
    started = time.perf_counter()
    runner = make_engine(engine, workers, ray)
    require(top >= 1, f"`top` must be at least 1, not {top}")
    check_out(Path(out))
    folder, run = Path(folder), load_run(run_dir)
    segment = run.segment
    check_hop(segment, hop_seconds)
    check_max_windows(max_windows)
    check_runtime(runtime)
    events.info(f"run {run.path} ({'+'.join(run.inputs)} / {run.model})")
    if runtime == RUNTIMES[0] and (engine != ENGINES[0] or gpu_visible()):
        runtime = RUNTIMES[-1]
        events.info("labelling with TensorFlow: " + ("the Ray engine's actors hold the model" if engine != ENGINES[0]
                                                      else "a GPU is there for it"))
    paths, problems = find_songs(folder)
    for problem in problems:
        events.warn(problem)
    fingerprints = _fingerprints(folder, paths, events)
    with PredictionTable(out, str(Path(run_dir).resolve()), hop_seconds or segment.segment_seconds, run.genres,
                         windows, max_windows) as table:
        todo = [song for song in fingerprints if not table.done(song, fingerprints[song])]
        events.info(f"{len(fingerprints)} songs under {folder}: {len(todo)} to label, "
                    f"{len(fingerprints) - len(todo)} already in {out}")
        failed = []
        with label_songs(run_dir, [folder / song for song in todo], hop_seconds, runner, yamnet,
                         events.info, max_windows, runtime) as labelled:
            events.start(len(todo))
            for item, prediction, error in labelled:
                song = todo[item]
                table.add(song, fingerprints[song], prediction, error)
                if error:
                    failed.append(error)
                    events.clip_failed(song, error)
                else:
                    events.clip_done(song, len(prediction.window_starts))
        rows = table.write(set(fingerprints), top, _tags(folder, fingerprints, events) if compare_tags else None)
    disagreements = sorted(((r["path"], r["tag"], r["genre_1"], r["probability_1"]) for r in rows
                            if r.get("tag_disagrees")), key=lambda d: (-d[3], d[0]))
    return LibraryResult(Path(out), table.windows_out if windows else None, len(rows), len(todo),
                         len(fingerprints) - len(todo), failed, time.perf_counter() - started, disagreements, rows)


def _tags(folder: Path, songs, events: FileEvents) -> dict[str, str]:
    """{song: the first genre its tag names, or ""}; a tag that cannot be read is one warning."""
    tags = {}
    for song in songs:
        try:
            genres = read_genres(folder / song)
        except TagProblem as e:
            events.warn(f"{folder / song}: {e}")
            genres = []
        tags[song] = genres[0] if genres else ""
    return tags


def _fingerprints(folder: Path, paths: list[Path], events: FileEvents) -> dict[str, dict]:
    """{path relative to the folder: its fingerprint}: a song whose file changes is labelled again."""
    fingerprints = {}
    for path in paths:
        try:
            fingerprints[path.relative_to(folder).as_posix()] = fingerprint(path)
        except OSError as e:  # gone or unreadable since it was listed
            events.warn(f"{path}: skipped, cannot be read ({first_line(e)})")
    return fingerprints
