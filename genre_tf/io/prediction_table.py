"""The prediction table of `genre-tf predict FOLDER --out FILE`: one row per song, and with --windows
one row per window in a second file; Parquet or CSV, by the suffix of FILE. This module is the only
one that writes or reads these files.

    <out>                    songs: path (relative to the folder), genre_1, probability_1, ...,
                             genre_<top>, probability_<top>, p_<genre> for every genre (the mean over
                             windows), windows, notes, error (why a file could not be labelled; empty
                             otherwise), size, mtime_ns (a changed file is labelled again), run, hop_seconds,
                             max_windows (the most windows a song is labelled from; 0: every window)
    <stem>.windows<suffix>   windows (--windows): path, window, start_seconds, p_<genre> for every genre
    .<out name>.parts/       songs labelled since <out> was last written: part-<n>.json, one per flush
                             (every PART_SONGS songs or PART_SECONDS); merged into <out> at the end
    .<out name>.lock         held by the run writing the table

Files are replaced atomically (the windows file first, so a song in <out> has its windows). An
interrupted run loses at most the songs since the last flush; the next run with the same --out
skips every song in <out> or the parts whose file is unchanged, and refuses to mix in another run's
genres or another hop.
"""
from __future__ import annotations

import csv
import dataclasses
import heapq
import io
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np

from ..config import TAG_DISAGREEMENT_CONFIDENCE, TOP_GENRES
from ..core.errors import GenreTfError, require
from ..core.files import Lock, atomic_path, remove_stale_temporaries, write_atomic
from .tags import genre_key

FORMATS = (".parquet", ".csv")
PART_SONGS = 200  # songs per part file, at most
PART_SECONDS = 30.0  # a part is written at least this often while songs come in
_INTEGER_COLUMNS = {"size", "mtime_ns", "windows", "window", "tag_disagrees", "max_windows"}
_FLOAT_COLUMNS = {"hop_seconds", "start_seconds"}
_FLOAT_PREFIXES = ("p_", "probability_")


def _column_type(name: str) -> str:
    if name in _INTEGER_COLUMNS:
        return "int"
    return "float" if name in _FLOAT_COLUMNS or name.startswith(_FLOAT_PREFIXES) else "str"


@dataclasses.dataclass
class Prediction:
    """One song's genres: what `predict` prints, the server returns and a table row holds.

    Attributes:
        source: the song: its path, or a file object's name.
        genres: the run's genres, in its output order.
        probabilities: (genres,) float array: each genre's probability, the mean over the windows.
        window_starts: (windows,) float array: each window's start in the song, in seconds.
        window_probabilities: (windows, genres) float array: each window's probabilities.
        notes: what the user should know that did not stop labelling (a truncated file, a clip scaled down).
    """

    source: str
    genres: list[str]
    probabilities: np.ndarray  # (genres,): mean over windows
    window_starts: np.ndarray  # (windows,) seconds
    window_probabilities: np.ndarray  # (windows, genres)
    notes: list[str]

    @classmethod
    def of_windows(cls, source: str, genres: list[str], starts: np.ndarray, window_probabilities: np.ndarray,
                   notes: list[str]) -> Prediction:
        """A song's prediction: the mean of its windows' probabilities.

        Args:
            source: the song's path or name.
            genres: the run's genres, in its output order.
            starts: (windows,) each window's start, in seconds.
            window_probabilities: (windows, genres) each window's probabilities.
            notes: what the user should know about the song.

        Returns:
            The prediction, `probabilities` the mean over its windows.
        """
        return cls(source, genres, window_probabilities.mean(0), starts, window_probabilities, notes)

    def top(self, k: int = TOP_GENRES) -> list[tuple[str, float]]:
        """The `k` likeliest genres.

        Args:
            k: how many.

        Returns:
            (genre, probability) pairs, the likeliest first.
        """
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(self.genres[i], float(self.probabilities[i])) for i in order]

    def to_dict(self) -> dict:
        """The prediction as JSON-ready values (the server's answer, `predict --json`).

        Returns:
            {"file", "genres" ({genre: probability}), "top" (every genre, the likeliest first), "notes",
                "windows" (each window's start_seconds and probabilities)}.
        """
        return {"file": self.source, "genres": dict(zip(self.genres, map(float, self.probabilities))),
                "top": [{"genre": g, "probability": p} for g, p in self.top(len(self.genres))], "notes": self.notes,
                "windows": [{"start_seconds": float(s), "probabilities": dict(zip(self.genres, map(float, p)))}
                            for s, p in zip(self.window_starts, self.window_probabilities)]}


def check_out(out: Path) -> None:
    require(out.suffix.lower() in FORMATS, f"`out` {out}: must end in {' or '.join(FORMATS)}")


class PredictionTable:
    """The table at `out`, opened for a run of `run` with `hop_seconds` between windows and at most
    `max_windows` per song (0: every window): `with PredictionTable(...) as table:`, then `done`, `add`, and
    `write` at the end."""

    def __init__(self, out: str | Path, run: str, hop_seconds: float, genres: list[str], windows: bool,
                 max_windows: int = 0):
        self.out = Path(out)
        check_out(self.out)
        self.windows_out = self.out.with_name(f"{self.out.stem}.windows{self.out.suffix}")
        self.parts = self.out.parent / f".{self.out.name}.parts"
        self.lock = Lock(self.out.parent / f".{self.out.name}.lock")
        self.settings = {"run": run, "hop_seconds": hop_seconds, "windows": windows, "max_windows": max_windows}
        self.genres = genres
        self.probability_columns = [f"p_{g}" for g in genres]
        self.songs: dict[str, dict] = {}  # path -> its row, from <out>, the parts and this run
        self.window_rows: dict[str, list[dict]] = {}
        self._pending: list[str] = []  # songs added since the last part
        self._flushed = time.monotonic()

    def __enter__(self) -> PredictionTable:
        require(not self.out.is_dir(), f"`out` {self.out}: is a folder; name a table file (.csv or .parquet)")
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            acquired = self.lock.acquire()
        except OSError as e:  # a parent that is a file, a read-only folder
            raise GenreTfError(f"`out` {self.out}: cannot write in {self.out.parent} ({e.strerror})") from None
        if not acquired:
            raise GenreTfError(f"{self.out}: another run is writing this table (pid {self.lock.holder()}); "
                               "wait for it to finish, or use another `out`")
        for folder in (self.out.parent, self.parts):  # what killed writers left behind
            remove_stale_temporaries(folder)
        try:
            self._load()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.flush()  # an interrupted run keeps every song it finished
        finally:
            self.lock.release()

    def _load(self) -> None:
        if self.out.exists():
            _check_ours(self.out)
            rows = _read_rows(self.out)
            if rows:
                self._check_settings(str(self.out), {"run": rows[0]["run"], "hop_seconds": rows[0]["hop_seconds"],
                                                     "windows": self.windows_out.exists(),
                                                     "max_windows": rows[0].get("max_windows") or 0})
            window_rows = _read_rows(self.windows_out) if self.windows_out.exists() else []
            self._merge(rows, window_rows)
        for part in sorted(self.parts.glob("part-*.json")) if self.parts.is_dir() else []:
            try:
                record = json.loads(part.read_text())
                settings, songs, windows = record["settings"], record["songs"], record["windows"]
            except (OSError, ValueError, TypeError, KeyError):
                continue  # not a part this table wrote whole (parts are written atomically): nothing to keep
            settings = {"max_windows": 0, **settings} if isinstance(settings, dict) else settings
            if not (isinstance(settings, dict) and set(settings) >= set(self.settings) and isinstance(windows, list)
                    and isinstance(songs, list) and all(isinstance(r, dict) and "path" in r for r in songs)):
                continue  # junk that only looks like a part
            self._check_settings(str(self.out), settings)
            self._merge(songs, windows)

    def _check_settings(self, where: str, found: dict) -> None:
        said = {"run": lambda v: f"by run {v}", "hop_seconds": lambda v: f"with a hop of {v:g} s",
                "windows": lambda v: "with --windows" if v else "without --windows",
                "max_windows": lambda v: f"from at most {v} windows per song" if v else "from every window"}
        for key, asked in self.settings.items():
            if found[key] != asked:
                raise GenreTfError(f"{where}: labelled {said[key](found[key])}, not {said[key](asked)}; "
                                   "use another --out, or delete it to label everything again")

    def _merge(self, songs: list[dict], windows: list[dict]) -> None:
        grouped: dict[str, list[dict]] = {}
        for row in windows:
            grouped.setdefault(row["path"], []).append(row)
        for row in songs:
            self.songs[row["path"]] = {k: v for k, v in row.items() if not k.startswith(("genre_", "probability_"))}
            self.window_rows[row["path"]] = grouped.get(row["path"], [])

    def done(self, path: str, fingerprint: dict) -> bool:
        """True if this song is in the table, labelled from the file as it is now."""
        row = self.songs.get(path)
        return bool(row) and row["size"] == fingerprint["size"] and row["mtime_ns"] == fingerprint["mtime_ns"]

    def add(self, path: str, fingerprint: dict, prediction: Prediction | None = None, error: str | None = None) -> None:
        """One song's result: its prediction, or why it failed."""
        probabilities = prediction.probabilities if prediction else np.full(len(self.genres), np.nan)
        self.songs[path] = {"path": path, **dict(zip(self.probability_columns, _numbers(probabilities))),
                            "windows": len(prediction.window_starts) if prediction else 0,
                            "notes": "; ".join(prediction.notes) if prediction else "", "error": error or "",
                            "size": fingerprint["size"], "mtime_ns": fingerprint["mtime_ns"],
                            "run": self.settings["run"], "hop_seconds": self.settings["hop_seconds"],
                            "max_windows": self.settings["max_windows"]}
        self.window_rows[path] = [] if not (prediction and self.settings["windows"]) else [
            {"path": path, "window": k, "start_seconds": float(start), **dict(zip(self.probability_columns, row))}
            for k, (start, row) in enumerate(zip(prediction.window_starts, prediction.window_probabilities.tolist()))]
        self._pending.append(path)
        if len(self._pending) >= PART_SONGS or time.monotonic() - self._flushed >= PART_SECONDS:
            self.flush()

    def renew(self, path: str, fingerprint: dict) -> None:
        """A song whose file changed but not its audio (its tags were written): its row stands for the file
        as it is now, so that it is not labelled again."""
        self.songs[path] = {**self.songs[path], "size": fingerprint["size"], "mtime_ns": fingerprint["mtime_ns"]}
        self._pending.append(path)

    def flush(self) -> None:
        """Write the songs added since the last part as a new part (atomically)."""
        self._flushed = time.monotonic()
        if not self._pending:
            return
        self.parts.mkdir(exist_ok=True)
        number = 1 + max((int(p.stem.split("-")[1]) for p in self.parts.glob("part-*.json")), default=0)
        record = {"settings": self.settings, "songs": [self.songs[p] for p in self._pending],
                  "windows": [row for p in self._pending for row in self.window_rows[p]]}
        write_atomic(self.parts / f"part-{number:06d}.json", json.dumps(record))
        self._pending = []

    def write(self, present: set[str], top: int, tags: dict[str, str] | None = None) -> list[dict]:
        """The table of the songs in `present` (those still in the folder), sorted by path, with their
        `top` genres; then the parts are removed. Returns the song rows. With `tags` ({path: the genre
        its tag names, or ""}), two more columns: `tag`, and `tag_disagrees` (1 where the tag names
        another of the run's genres than a prediction at least TAG_DISAGREEMENT_CONFIDENCE sure)."""
        self.flush()
        top = min(top, len(self.genres))  # there are no more genres to rank
        paths = sorted(p for p in self.songs if p in present)
        songs = [self._with_top(self.songs[p], top) for p in paths]
        if tags is not None:
            known = {genre_key(g) for g in self.genres}
            songs = [{**row, "tag": tags.get(row["path"], ""),
                      "tag_disagrees": int(_disagrees(row, tags.get(row["path"]), known))} for row in songs]
        if self.settings["windows"]:
            _write_rows(self.windows_out, [row for p in paths for row in self.window_rows[p]],
                        ["path", "window", "start_seconds", *self.probability_columns])
        columns = ["path", *[f"{k}_{i}" for i in range(1, top + 1) for k in ("genre", "probability")],
                   *self.probability_columns, "windows", "notes", "error", "size", "mtime_ns", "run", "hop_seconds",
                   "max_windows"]
        _write_rows(self.out, songs, columns + (["tag", "tag_disagrees"] if tags is not None else []))
        shutil.rmtree(self.parts, ignore_errors=True)
        return songs

    def _with_top(self, row: dict, top: int) -> dict:
        # heapq.nlargest: sorted(..., reverse=True)[:top], ties and all, without sorting every genre
        probabilities = (row[c] for c in self.probability_columns)
        ranked = [] if row["error"] else heapq.nlargest(top, zip(probabilities, self.genres))
        cells = {}
        for i in range(top):
            probability, genre = ranked[i] if i < len(ranked) else (None, None)
            cells.update({f"genre_{i + 1}": genre or "", f"probability_{i + 1}": probability})
        return {**row, **cells}


def _disagrees(row: dict, tag: str | None, known: set[str]) -> bool:
    """A tag naming another genre the run knows (one it does not know is no evidence) than a confident prediction."""
    return bool(tag and not row["error"] and row["probability_1"] >= TAG_DISAGREEMENT_CONFIDENCE
                and genre_key(tag) in known and genre_key(tag) != genre_key(row["genre_1"]))


def _numbers(values: np.ndarray) -> list[float | None]:
    """NaN (no value: a song that failed) is written as an empty cell."""
    return [None if math.isnan(v) else v for v in values.tolist()]


def _write_rows(path: Path, rows: list[dict], columns: list[str]) -> None:
    if path.suffix.lower() == ".csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: "" if row.get(c) is None else row[c] for c in columns} for row in rows)
        write_atomic(path, text.getvalue())
        return
    pa, pq = _pyarrow()
    types = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}
    schema = pa.schema([(c, types[_column_type(c)]) for c in columns])
    # column by column: a row of 10,000 genres at a time is twice as slow
    table = pa.Table.from_pydict({c: [row.get(c) for row in rows] for c in columns}, schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


# The columns every table genre-tf writes has: a file without them is someone else's, never overwritten.
OWN_COLUMNS = {"path", "error", "run", "hop_seconds"}


def _columns(path: Path) -> list[str]:
    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="") as f:
                return next(csv.reader(f), [])
        return _pyarrow()[1].read_schema(path).names
    except (OSError, ValueError, csv.Error) as e:
        raise GenreTfError(f"{path}: unreadable prediction table ({e}); use another --out, or delete it") from None


def _check_ours(path: Path) -> None:
    """A table at `out` must be one genre-tf wrote (it is updated in place); anything else is left alone."""
    if not OWN_COLUMNS <= set(_columns(path)):
        raise GenreTfError(f"`out` {path}: exists and is not a genre-tf prediction table (no "
                           f"{', '.join(sorted(OWN_COLUMNS))} columns); use another --out")


def _read_rows(path: Path) -> list[dict]:
    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="") as f:
                return [{c: _parse(c, v) for c, v in row.items()} for row in csv.DictReader(f)]
        return _pyarrow()[1].read_table(path).to_pylist()
    except (OSError, ValueError, csv.Error) as e:
        raise GenreTfError(f"{path}: unreadable prediction table ({e}); use another --out, or delete it") from None


def _parse(column: str, text: str):
    kind = _column_type(column)
    if kind == "str":
        return text
    if text == "":
        return None
    return int(text) if kind == "int" else float(text)


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise GenreTfError("Parquet needs pyarrow: pip install pyarrow (or 'genre-tf[ray]'), or write a .csv") from None
    return pyarrow, pyarrow.parquet
