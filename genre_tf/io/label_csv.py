"""A labels CSV (`labels="labels.csv"`): columns `path,genre` and optionally `split`, one row per clip;
paths relative to the data folder or absolute. This module is the only one that reads it."""
from __future__ import annotations

import csv
from pathlib import Path

from ..core.errors import DatasetError, first_line

SPLIT_NAMES = ("train", "valid", "test")


def read_label_csv(path: str | Path, data: Path) -> tuple[list[tuple[str, str, Path, str | None]], list[str]]:
    """[(clip id, genre, audio path, split or None)] and one line per row passed over. The clip id is
    the path as the CSV gives it (relative to `data`, or absolute): unique by construction."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # utf-8-sig: a spreadsheet's BOM
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: labels CSV cannot be read ({first_line(e)})") from None
    missing = [c for c in ("path", "genre") if c not in columns]
    if missing:
        raise DatasetError(f"{path}: labels CSV has no {' or '.join(missing)} column (its columns: "
                           f"{', '.join(columns) or 'none'}); expected path,genre[,split]")
    clips, problems, genre_of = [], [], {}
    for line, row in enumerate(rows, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        where = f"{path} line {line}"
        name, genre, split = row["path"], row["genre"], row.get("split") or None
        if not name or not genre:
            problems.append(f"{where}: skipped, no {'path' if not name else 'genre'}")
            continue
        if split and split not in SPLIT_NAMES:
            problems.append(f"{where}: skipped, unknown split '{split}' "
                            f"(use {', '.join(SPLIT_NAMES)} or leave it empty)")
            continue
        if name in genre_of:
            first, first_genre = genre_of[name]
            clash = f"labelled {first_genre}" if first_genre != genre else "listed"
            problems.append(f"{where}: skipped, {name} is already {clash} on line {first}")
            continue
        audio = Path(name) if Path(name).is_absolute() else data / name
        if not audio.is_file():
            problems.append(f"{where}: skipped, {audio} does not exist")
            continue
        genre_of[name] = (line, genre)
        clips.append((name, genre, audio, split))
    return clips, problems
