"""FMA, the Free Music Archive dataset (Defferrard et al. 2017), as released: audio named by track id
(`fma_small/000/000002.mp3`) and `fma_metadata/tracks.csv`, whose columns have a two-row header
(`track`/`set`/... over `genre_top`/`split`/`subset`/...). This module is the only one that reads it,
the way FMA's own `utils.load` does (pandas, `header=[0, 1], index_col=0`).

The label is `track.genre_top`, the clip id the six-digit track id, the split `set.split`
(training/validation/test, any case). A subset holds the smaller ones: `medium` is small + medium tracks.
A damaged file (a partial download, a row cut short, a track listed twice) loses the rows it damaged,
each named, never the rest; a cut row's text never becomes a genre.
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from ..config import FMA_SUBSETS
from ..core.errors import DatasetError, first_line, shown
from ..core.files import csv_records, file_problem
from .splits import part_name

GENRE, SPLIT, SUBSET = ("track", "genre_top"), ("set", "split"), ("set", "subset")
TRACKS = "tracks.csv"
MAX_TRACK_ID = 10 ** 9  # FMA's are six digits; a larger "id" is damage, not a track


def find_tracks_csv(data: Path, metadata: str | Path | None) -> Path:
    """`metadata`'s tracks.csv, else the one beside the audio: fma_metadata/ next to or inside `data`."""
    candidates = [Path(metadata)] if metadata else [data.parent / "fma_metadata", data / "fma_metadata"]
    for folder in candidates:
        if not file_problem(folder / TRACKS):
            return (folder / TRACKS).resolve()
        if folder.name == TRACKS and not file_problem(folder):
            return folder.resolve()
    where = " or ".join(shown(c) for c in candidates)
    raise DatasetError(f"FMA's {TRACKS} not found in {where}; download fma_metadata.zip and pass "
                       "`fma_metadata` DIR")


def audio_path(root: Path, track_id: int) -> Path:
    name = f"{track_id:06d}"
    return root / name[:3] / f"{name}.mp3"


def read_fma(root: Path, tracks_csv: Path, subset: str) -> tuple[list[tuple[str, str, Path, str | None]], list[str]]:
    """[(track id, genre, audio path, split)] of the subset's tracks, and one line per track, row or file
    passed over (and one each counting the tracks without a top genre, or without a split it knows)."""
    problems: list[str] = []
    tracks, listed_ids = _read_tracks(tracks_csv, problems)
    subsets = FMA_SUBSETS[:FMA_SUBSETS.index(subset) + 1]  # a subset holds the smaller ones
    chosen = tracks[tracks[SUBSET].astype(str).str.strip().str.lower().isin(subsets)]
    clips, without_genre, unknown_splits = [], 0, Counter()
    for track_id, genre, split in zip(chosen.index, chosen[GENRE], chosen[SPLIT]):
        if not isinstance(genre, str) or not genre.strip():
            without_genre += 1
            continue
        audio = audio_path(root, track_id)
        if not audio.is_file():
            problems.append(f"{tracks_csv} track {track_id}: skipped, no audio at {audio}")
            continue
        part = part_name(split) if isinstance(split, str) else None
        if not part:
            unknown_splits["empty" if not isinstance(split, str) or not split.strip() else f"'{shown(split)}'"] += 1
        clips.append((f"{track_id:06d}", genre.strip(), audio, part))
    if without_genre:
        problems.append(f"{tracks_csv}: {without_genre} tracks of fma_{subset} have no top genre (genre_top); skipped")
    if unknown_splits:
        problems.append(f"{tracks_csv}: {sum(unknown_splits.values())} tracks of fma_{subset} have no split "
                        f"(set.split {', '.join(f'{v} {n}' for v, n in unknown_splits.most_common())}): they are in "
                        "no part of the labels' split")
    listed = {audio_path(root, t) for t in listed_ids}
    for audio in sorted(root.glob("[0-9][0-9][0-9]/*.mp3")):
        if audio not in listed:
            problems.append(f"{audio}: skipped, no row in {tracks_csv}")
    return clips, problems


def _read_tracks(tracks_csv: Path, problems: list[str]):
    """tracks.csv as a table indexed by integer track id: rows cut short, rows without an integer id and
    tracks listed twice with different values are left out, each counted or named in `problems`. And
    every track id the file lists, those left out included (their audio has a row, if not a usable one)."""
    import pandas as pd

    short, complete = _short_rows(tracks_csv)
    try:
        tracks = pd.read_csv(tracks_csv, header=[0, 1], index_col=0, low_memory=False, nrows=complete)
    except Exception as e:  # pandas raises many kinds for a file that is not a CSV
        raise DatasetError(f"{tracks_csv}: cannot be read as FMA's {TRACKS} ({first_line(e)})") from None
    missing = [".".join(c) for c in (GENRE, SPLIT, SUBSET) if c not in tracks.columns]
    if missing:
        raise DatasetError(f"{tracks_csv}: not FMA's {TRACKS} (no {', '.join(missing)}); expected its two-row "
                           "header: track/set/... over genre_top/split/subset/...")
    cut = {track_id.strip() for _, track_id, _, _ in short}
    cut_ids = {int(t) for t in cut if t.isascii() and t.isdigit() and int(t) < MAX_TRACK_ID}
    tracks = tracks[~pd.Index(tracks.index.astype(str)).isin(cut)]  # a cut row with an odd id: named once, below
    ids = pd.to_numeric(pd.Series(tracks.index, dtype=object), errors="coerce").to_numpy(dtype=float)
    whole = (ids >= 0) & (ids < MAX_TRACK_ID) & (ids % 1 == 0)  # NaN fails them all
    if not whole.all():
        problems.append(f"{tracks_csv}: {int((~whole).sum())} rows have an empty or non-integer track id; skipped")
    tracks = tracks[whole]
    tracks.index = ids[whole].astype(np.int64)
    tracks = tracks[~tracks.index.isin(cut_ids)]
    for line, track_id, fields, expected in short:
        problems.append(f"{tracks_csv} line {line}: track {shown(track_id)} skipped, its row has {fields} of "
                        f"{expected} fields (a file cut short?)")
    return _without_repeats(tracks_csv, tracks, problems), set(tracks.index) | cut_ids


def _short_rows(tracks_csv: Path) -> tuple[list[tuple[int, str, int, int]], int | None]:
    """(line, track id, fields, header's fields) of each data row with fewer fields than the header, and
    how many data rows to read: all (None), or all but a last one cut short (pandas would take its cut
    text for a value, or fail inside a cut quoted field)."""
    try:
        with open(tracks_csv, newline="", encoding="utf-8") as f:
            rows = [(line, fields[0], len(fields)) for line, fields in csv_records(f)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{tracks_csv}: cannot be read as FMA's {TRACKS} ({first_line(e)})") from None
    headers = 3 if len(rows) > 2 and rows[2][1] == "track_id" else 2  # two header rows and the index's name
    width = rows[0][2] if rows else 0
    data = rows[headers:]
    short = [(line, track_id, n, width) for line, track_id, n in data if n < width]
    return short, len(data) - 1 if data and data[-1][2] < width else None


def _without_repeats(tracks_csv: Path, tracks, problems: list[str]):
    """A track id listed more than once: kept once where its rows agree, left out where they do not."""
    repeated = tracks.index[tracks.index.duplicated()].unique()
    drop = []
    for track_id in repeated:
        rows = tracks.loc[[track_id], [GENRE, SPLIT, SUBSET]].astype(str)
        if len(rows.drop_duplicates()) == 1:
            problems.append(f"{tracks_csv}: track {track_id} is listed {len(rows)} times with the same values; "
                            "counted once")
        else:
            differing = [f"{column[1]} {' and '.join(rows[column])}" for column in (GENRE, SPLIT, SUBSET)
                         if rows[column].nunique() > 1]
            problems.append(f"{tracks_csv}: track {track_id} skipped, listed {len(rows)} times with different "
                            f"values ({', '.join(differing)})")
            drop.append(track_id)
    return tracks[~tracks.index.duplicated() & ~tracks.index.isin(drop)]
