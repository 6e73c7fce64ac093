"""Where a dataset's labels come from: one `LabelSource` of four kinds, read into a `Dataset`.

    folders   <data>/<genre>/<clip>: the genre is the folder (dataset.py; the default)
    csv       a CSV of path,genre[,split] (label_csv.py)
    fma       FMA's tracks.csv: track.genre_top, and its official split (fma.py)
    tags      every audio file under <data>, at any depth, labelled by its own genre tag (tags.py)

A store records its source (`LabelSource.record`): relabelling (an edited CSV, a retagged song, a new
genre map) changes the index, not the features; another kind of source needs a new store.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from ..config import FMA_SUBSETS, LABEL_KINDS, MIN_CLIPS_PER_GENRE
from ..core.errors import DatasetError, require, shown
from ..core.files import file_problem, fingerprint
from .dataset import Clip, Dataset, discover, find_songs
from .fma import find_tracks_csv, read_fma
from .label_csv import read_label_csv
from .tags import TagProblem, genre_key, genre_name, names_by_key, read_genre_map, read_genres

# The kinds `labels` names as a word; a CSV is named by its path.
_NAMED_KINDS = [kind for kind in LABEL_KINDS if kind != "csv"]


@dataclasses.dataclass(frozen=True)
class LabelSource:
    """Where a dataset's genres come from (see the module docstring); `label_source` makes one from the
    `labels` argument. A store records it, so that a rerun reads its labels the same way.

    Attributes:
        kind: folders (the default: the genre is the clip's folder), csv, fma or tags.
        file: csv: the labels CSV; fma: its tracks.csv (absolute); None for the other kinds.
        fma_subset: fma: small, medium or large (each holds the one before it).
        genre_map: tags: a CSV of from,to renaming (or, with an empty `to`, dropping) genres (absolute).
        min_clips: tags: genres with fewer clips are dropped.

    Raises:
        GenreTfError: an unknown `kind` or `fma_subset`, or `min_clips` below 1.
    """

    kind: str = LABEL_KINDS[0]
    file: str | None = None  # csv: the labels CSV; fma: its tracks.csv (absolute)
    fma_subset: str | None = None  # fma: small, medium or large
    genre_map: str | None = None  # tags: a CSV of from,to (absolute)
    min_clips: int | None = None  # tags: smaller genres are dropped

    def __post_init__(self):
        require(self.kind in LABEL_KINDS, f"`labels` must be {', '.join(_NAMED_KINDS)}, a labels CSV or "
                                          f"nothing (genre folders), not '{self.kind}'")
        require(self.min_clips is None or self.min_clips >= 1, f"`min_clips` must be at least 1, not {self.min_clips}")
        require(self.fma_subset in (None, *FMA_SUBSETS),
                f"`fma_subset` must be {', '.join(FMA_SUBSETS)}, not '{self.fma_subset}'")

    @classmethod
    def of_record(cls, record: dict | None) -> LabelSource:
        """A store's record of its source (None: a store from before labels had sources: folders).

        Args:
            record: what `record` returned (fields it does not know are left out), or None.

        Returns:
            The label source the record describes.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (record or {}).items() if k in fields})

    def record(self) -> dict:
        """What a store keeps: the source and its files' fingerprints (a relabelled file shows).

        Returns:
            The fields, and under "fingerprints" each file's size and modification time.
        """
        files = {name: fingerprint(path) for name, path in (("file", self.file), ("genre_map", self.genre_map))
                 if path and Path(path).is_file()}
        return {**dataclasses.asdict(self), "fingerprints": files}

    def describe(self) -> str:
        """'csv labels.csv', 'fma small', 'tags', 'folders': where the labels came from, for reports.

        Returns:
            The kind, and its file's name, FMA subset or genre map's name where it has one.
        """
        detail = {"csv": self.file and Path(self.file).name, "fma": self.fma_subset,
                  "tags": self.genre_map and f"map {Path(self.genre_map).name}"}.get(self.kind)
        return " ".join(filter(None, [self.kind, detail]))


def label_source(labels: str | None, data: str | Path | None = None, fma_metadata: str | Path | None = None,
                 fma_subset: str | None = None, genre_map: str | Path | None = None,
                 min_clips: int | None = None) -> LabelSource | None:
    """`labels` as the CLI and the API take it: None (the store's source, else folders), 'folders',
    'fma', 'tags', or the path of a labels CSV.

    Args:
        labels: None, "folders", "fma", "tags", or the path of a labels CSV (path,genre[,split]).
        data: the data folder; fma: where its fma_metadata/ is looked for (beside or inside it), without
            `fma_metadata`.
        fma_metadata: fma: the folder holding tracks.csv (or tracks.csv itself).
        fma_subset: fma: small (the default), medium or large.
        genre_map: tags: a CSV of from,to that renames or drops genres.
        min_clips: tags: the fewest clips a genre keeps (default 5).

    Returns:
        The label source, its files made absolute; None where `labels` is None.

    Raises:
        GenreTfError: options that do not go with `labels`, or a `labels` that is neither a kind nor a readable
            .csv file.
        DatasetError: fma: no tracks.csv where it was looked for.
    """
    require(labels == "fma" or not (fma_metadata or fma_subset), "`fma_metadata` and `fma_subset` go with `labels` fma")
    require(labels == "tags" or not (genre_map or min_clips), "`genre_map` and `min_clips` go with `labels` tags")
    if labels is None:
        return None
    if labels == "fma":
        tracks = find_tracks_csv(Path(data or "."), fma_metadata)
        return LabelSource("fma", str(tracks), fma_subset or FMA_SUBSETS[0])
    if labels == "tags":
        return LabelSource("tags", genre_map=_absolute(genre_map), min_clips=min_clips or MIN_CLIPS_PER_GENRE)
    if labels == "folders":
        return LabelSource()
    require(Path(labels).suffix.lower() == ".csv",
            f"`labels` must be {', '.join(_NAMED_KINDS)} or a labels CSV (.csv), not '{shown(labels)}'")
    problem = file_problem(labels)
    require(not problem, f"`labels` {shown(labels)}: {'no such file' if problem == 'does not exist' else problem}")
    return LabelSource("csv", _absolute(labels))


def _absolute(path: str | Path | None) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else None


def read_labelled(data: str | Path, source: LabelSource) -> Dataset:
    """The clips under `data` and their labels from `source`. Raises DatasetError where none is usable.

    Files the labels name that are missing or unreadable, rows that cannot be used and, for tags, untagged
    songs and genres with fewer than `min_clips` clips are passed over, one line each in the result's
    `problems`.

    Args:
        data: the data folder (for tags, a library of songs at any depth).
        source: where the genres come from.

    Returns:
        A `Dataset`: the clips with their genres, the lines about what was passed over, and each clip's
            train/valid/test split where the labels carry one (a CSV's split column, FMA's official split).

    Raises:
        DatasetError: `data` is not a readable folder, a labels file or genre map cannot be read, or no clip is
            usable.
    """
    root = Path(data)
    if source.kind == "folders":
        return discover(root)
    problem = file_problem(root, folder=True)
    if problem:
        raise DatasetError(f"{shown(root)}: {'data folder does not exist' if problem == 'does not exist' else problem}")
    if source.kind == "csv":
        rows, problems = read_label_csv(source.file, root)
    elif source.kind == "fma":
        rows, problems = read_fma(root, Path(source.file), source.fma_subset)
    else:
        rows, problems = _tagged(root, source)
    rows = _unique(rows, problems)
    if not rows:
        raise DatasetError(f"{root}: no usable labelled clips ({source.describe()}"
                           + (f"; first problem: {problems[0]}" if problems else "") + ")")
    clips = [Clip(clip_id, genre, path) for clip_id, genre, path, _ in rows]
    return Dataset(root, clips, problems, {clip_id: split for clip_id, _, _, split in rows if split})


def _unique(rows: list[tuple[str, str, Path, str | None]], problems: list[str]) -> list:
    """One row per clip id: a store holds each clip once (the readers make ids unique; a second row for
    one, whatever made it, is left out, with both files named)."""
    first, kept = {}, []
    for row in rows:
        if row[0] in first:
            problems.append(f"{shown(row[2])}: skipped, its clip id '{shown(row[0])}' is already "
                            f"{shown(first[row[0]])}'s")
        else:
            first[row[0]] = row[2]
            kept.append(row)
    return kept


def _tagged(root: Path, source: LabelSource) -> tuple[list[tuple[str, str, Path, None]], list[str]]:
    """Every audio file under `root` with its first genre tag, normalized, mapped and kept where its
    genre has `min_clips` clips; one line per file or genre passed over, and counts."""
    songs, problems = find_songs(root)
    first, several, untagged = {}, 0, 0
    for song in songs:
        try:
            genres = read_genres(song)
        except TagProblem as e:
            problems.append(f"{song}: skipped, {e}")
            continue
        usable = [g for g in genres if genre_key(g)]
        if not usable:
            problems.append(f"{song}: skipped, " + (f"its genre tag '{shown(genres[0])}' has no letters, digits or "
                                                    "symbols" if genres else "no genre tag"))
            untagged += 1
            continue
        several += len({genre_key(g) for g in usable}) > 1
        first[song] = usable[0]
    keys = {song: genre_key(g) for song, g in first.items()}
    mapping = {key: target and genre_name(target)  # a None label drops the genre
               for key, target in (read_genre_map(source.genre_map) if source.genre_map else {}).items()}
    names = {**names_by_key(list(first.values())), **mapping}
    labels = {song: names.get(key) for song, key in keys.items()}
    dropped = sum(1 for key in keys.values() if key in mapping and mapping[key] is None)
    counts = Counter(label for label in labels.values() if label)
    for genre, n in sorted(counts.items()):
        if n < source.min_clips:
            problems.append(f"genre {genre}: {n} clips, fewer than `min_clips` ({source.min_clips}); dropped")
    if untagged:
        problems.append(f"{root}: {untagged} files have no genre tag (placeholders such as Unknown or Other count "
                        "as none); skipped")
    if several:
        problems.append(f"{root}: {several} files have several genres in their tag; the first is used")
    if dropped:
        problems.append(f"{root}: {dropped} files' genres are dropped by the genre map")
    return [(song.relative_to(root).as_posix(), label, song, None) for song, label in labels.items()
            if label and counts[label] >= source.min_clips], problems
