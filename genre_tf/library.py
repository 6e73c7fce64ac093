"""`genre-tf predict FOLDER --out FILE`: label every song under a folder (recursively: any layout,
length and supported format) with a trained run, into a prediction table (predictions.py).

Resumable: songs already in the table, from files unchanged since, are skipped. Two engines: `local`
(predict.Predictor in this process, one song at a time) and `ray` (distributed.py: decoding tasks
and actors that each hold the run once). A bad file is one row with its cause, and the run goes on.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

from .audio import AUDIO_EXTENSIONS
from .dataset import list_entries
from .errors import DatasetError, file_failure, first_line, require
from .extract import ExtractEvents
from .params import ENGINES, EmbeddingParams, RayParams, SegmentParams
from .predict import WINDOW_BATCH, Prediction, all_song_windows, check_hop
from .predictions import PredictionTable, check_out
from .runs import load_run


@dataclasses.dataclass
class LibraryResult:
    out: Path
    windows_out: Path | None
    songs: int  # in the table now
    labelled: int  # in this run
    kept: int  # from an earlier run
    failed: list[str]  # why, for each song of this run that could not be labelled
    seconds: float


def find_songs(folder: str | Path) -> tuple[list[Path], list[str]]:
    """Every audio file under `folder`, at any depth, in sorted order; and one line for each entry
    passed over that a user would want to hear of. Files of other kinds (cover art, playlists) are
    passed over in silence, counted in one line."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: {'not a folder' if folder.exists() else 'folder does not exist'}")
    songs, problems, others, seen = [], [], Counter(), set()

    def walk(directory: Path) -> None:
        seen.add(directory.resolve())  # a link back up the tree is not followed twice
        for path in list_entries(directory, problems):
            audio_name = path.suffix.lower() in AUDIO_EXTENSIONS
            if path.name.startswith("."):
                continue
            if path.is_symlink() and not path.exists():
                problems.append(f"{path}: skipped, a dangling link")
            elif path.is_dir():
                if audio_name:
                    problems.append(f"{path}: skipped, a folder named like an audio file")
                elif path.resolve() not in seen:
                    walk(path)
            elif audio_name:
                songs.append(path)
            else:
                others[path.suffix.lower() or "no extension"] += 1

    walk(folder)
    if others:
        problems.append(f"{folder}: passed over {sum(others.values())} files that are not audio ("
                        + ", ".join(f"{ext} {n}" for ext, n in others.most_common()) + ")")
    return songs, problems


def label_library(run_dir: str | Path, folder: str | Path, out: str | Path, hop_seconds: float | None = None,
                  windows: bool = False, top: int = 3, engine: str = "local", ray: RayParams = RayParams(),
                  yamnet: EmbeddingParams | None = None, events: ExtractEvents = ExtractEvents()) -> LibraryResult:
    """Label every song under `folder` with the run in `run_dir` into the table `out`; per-window rows
    too with `windows`. `yamnet` replaces the run's YAMNet source (moved or unreachable)."""
    started = time.perf_counter()
    require(engine in ENGINES, f"--engine must be {' or '.join(ENGINES)}, not '{engine}'")
    require(top >= 1, f"--top must be at least 1, not {top}")
    check_out(Path(out))
    folder, run = Path(folder), load_run(run_dir)
    segment = SegmentParams(**run.config["store"]["segment_params"])
    check_hop(segment, hop_seconds)
    events.info(f"run {run.path} ({'+'.join(run.inputs)} / {run.model})")
    paths, problems = find_songs(folder)
    for problem in problems:
        events.warn(problem)
    fingerprints = _fingerprints(folder, paths, events)
    hop = hop_seconds or segment.segment_seconds
    with PredictionTable(out, str(Path(run_dir).resolve()), hop, run.labels, windows) as table:
        todo = [song for song in fingerprints if not table.done(song, fingerprints[song])]
        events.info(f"{len(fingerprints)} songs under {folder}: {len(todo)} to label, "
                    f"{len(fingerprints) - len(todo)} already in {out}")
        labelling = _predictions_here(run_dir, yamnet, folder, todo, hop_seconds) if engine == "local" else \
            _predictions_on_ray(run_dir, yamnet, folder, todo, segment, hop_seconds, run.labels, ray, events)
        failed = []
        with labelling as results:
            events.start(len(todo))
            for song, prediction, error in results:
                table.add(song, fingerprints[song], prediction, error)
                if error:
                    failed.append(error)
                    events.clip_failed(song, error)
                else:
                    events.clip_done(song, len(prediction.window_starts))
        rows = table.write(set(fingerprints), top)
    return LibraryResult(Path(out), table.windows_out if windows else None, len(rows), len(todo),
                         len(fingerprints) - len(todo), failed, time.perf_counter() - started)


def _fingerprints(folder: Path, paths: list[Path], events: ExtractEvents) -> dict[str, dict]:
    """{path relative to the folder: size and mtime}: a song whose file changes is labelled again."""
    fingerprints = {}
    for path in paths:
        try:
            st = path.stat()
        except OSError as e:  # gone or unreadable since it was listed
            events.warn(f"{path}: skipped, cannot be read ({first_line(e)})")
            continue
        fingerprints[path.relative_to(folder).as_posix()] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return fingerprints


# What an engine yields for each song, in any order: (song, its prediction, None) or (song, None, why it failed).
Result = tuple[str, Prediction | None, str | None]


@contextlib.contextmanager
def _predictions_here(run_dir, yamnet, folder: Path, songs: list[str], hop_seconds) -> Iterator[Iterator[Result]]:
    """The local engine: the run loaded here (on entering, so that a run that cannot load fails first)."""
    from .predict import Predictor

    predictor = Predictor(run_dir, yamnet) if songs else None

    def results() -> Iterator[Result]:
        for song in songs:
            try:
                yield song, predictor.predict(folder / song, hop_seconds), None
            except Exception as e:  # one bad song never stops a run over a thousand
                yield song, None, file_failure(folder / song, e)

    yield results()


@contextlib.contextmanager
def _predictions_on_ray(run_dir, yamnet, folder: Path, songs: list[str], segment: SegmentParams, hop_seconds,
                        labels: list[str], ray: RayParams, events: ExtractEvents) -> Iterator[Iterator[Result]]:
    """The Ray engine: songs decoded whole by tasks, their windows classified by actors holding the run."""
    from .distributed import map_windows

    decode = functools.partial(all_song_windows, segment=segment, hop_seconds=hop_seconds)
    classify = functools.partial(_classifier, str(Path(run_dir).resolve()), yamnet)
    with map_windows([str(folder / song) for song in songs], decode, classify, WINDOW_BATCH,
                     segment.segment_samples, ray, events.info) as finished:

        def results() -> Iterator[Result]:
            for done in finished:
                song = songs[done.item]
                yield song, None if done.error else Prediction.of_windows(
                    str(folder / song), labels, done.starts, done.arrays["probabilities"], done.notes), done.error

        yield results()


def _classifier(run_dir: str, yamnet: EmbeddingParams | None):
    """In a Ray actor: the run, loaded once; windows -> their probabilities."""
    from .predict import Predictor

    predictor = Predictor(run_dir, yamnet)
    return lambda windows: {"probabilities": predictor.classify(windows)}
