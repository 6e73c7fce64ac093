"""A labels CSV (`labels="labels.csv"`): columns `path,genre` and optionally `split`, one row per clip;
paths relative to the data folder or absolute. This module is the only one that reads it.

One file is one clip however a row spells it (`a.wav`, `./a.wav`, its absolute path, a link to it): rows
naming one file with one genre and split count once; with different ones, the file is left out (it
would train on one label and be tested on another). Genres merge by the rule of tags (io/tags.py:
`Rock`, `rock` and `ROCK ` are one genre, named `rock`).
"""
from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path

from ..core.errors import DatasetError, first_line, shown
from ..core.files import csv_records, file_problem
from .splits import PARTS, part_name
from .tags import genre_key, names_by_key

COLUMNS = ("path", "genre", "split")


@dataclasses.dataclass
class _Row:
    line: int
    name: str  # the path as the CSV spells it
    genre: str  # as the CSV spells it
    split: str | None
    audio: Path
    clip_id: str  # the path relative to the data folder (or absolute, outside it), normalized


def read_label_csv(path: str | Path, data: Path) -> tuple[list[tuple[str, str, Path, str | None]], list[str]]:
    """[(clip id, genre, audio path, split or None)] and one line per row passed over. The clip id is the
    file's path relative to `data` (absolute for a file outside it), normalized."""
    path = Path(path)
    header, records = _read(path)
    columns = _columns(path, header)
    by_file: dict[str, list[_Row]] = {}
    problems = []
    for line, fields in records:
        row = _row(path, data, line, fields, columns, problems)
        if row:
            by_file.setdefault(os.path.realpath(row.audio), []).append(row)
    rows = [row for same in by_file.values() if (row := _one_label(path, same, problems))]
    names = names_by_key([row.genre for row in rows])
    return [(row.clip_id, names[genre_key(row.genre)], row.audio, row.split) for row in rows], problems


def _read(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header, and each record with the line it starts on (a quoted field may hold line breaks)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # utf-8-sig: a spreadsheet's BOM
            records = list(csv_records(f))
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: labels CSV is not UTF-8 text; save it as UTF-8") from None
    except (OSError, csv.Error) as e:
        raise DatasetError(f"{path}: labels CSV cannot be read ({first_line(e)})") from None
    return (records[0][1] if records else []), records[1:]


def _columns(path: Path, header: list[str]) -> dict[str, int | None]:
    """{column name: its index}; a column named twice (`Path` and `path`) or missing is refused."""
    names = [c.strip().lower() for c in header]
    for name in COLUMNS:
        if names.count(name) > 1:
            raise DatasetError(f"{path}: labels CSV has {names.count(name)} {name} columns ("
                               + ", ".join(shown(c) for c, n in zip(header, names) if n == name) + "); keep one")
    missing = [c for c in COLUMNS[:2] if c not in names]
    if missing:
        raise DatasetError(f"{path}: labels CSV has no {' or '.join(missing)} column (its columns: "
                           f"{', '.join(shown(n) for n in names) or 'none'}); expected path,genre[,split]")
    return {name: names.index(name) if name in names else None for name in COLUMNS}


def _row(path: Path, data: Path, line: int, fields: list[str], columns: dict[str, int | None],
         problems: list[str]) -> _Row | None:
    """One record as a row, or None with the reason in `problems`."""
    value = {name: fields[i].strip() if i is not None and i < len(fields) else "" for name, i in columns.items()}
    name, genre = value["path"], value["genre"]
    where = f"{path} line {line}"
    if not name or not genre:
        problems.append(f"{where}: skipped, no {'path' if not name else 'genre'}")
        return None
    if not genre_key(genre):
        problems.append(f"{where}: skipped, genre '{shown(genre)}' has no letters, digits or symbols")
        return None
    split = part_name(value["split"]) if value["split"] else None
    if value["split"] and not split:
        problems.append(f"{where}: skipped, unknown split '{shown(value['split'])}' "
                        f"(use {', '.join(PARTS)} or leave it empty)")
        return None
    audio = Path(name) if os.path.isabs(name) else data / name
    problem = file_problem(audio)
    if problem:
        problems.append(f"{where}: skipped, {shown(audio)} {problem}")
        return None
    return _Row(line, name, genre, split, audio, _clip_id(audio, data))


def _clip_id(audio: Path, data: Path) -> str:
    """`a.wav`, `./a.wav` and `<data>/a.wav` are one clip id: the path relative to the data folder."""
    absolute, root = os.path.normpath(os.path.abspath(audio)), os.path.normpath(os.path.abspath(data))
    relative = os.path.relpath(absolute, root)
    return absolute if relative.split(os.sep)[0] == os.pardir else Path(relative).as_posix()


def _one_label(path: Path, rows: list[_Row], problems: list[str]) -> _Row | None:
    """The row of a file listed once; of one listed again, the first if every row agrees (one line per
    repeat), else none (one line naming every row)."""
    first = rows[0]
    if len({(genre_key(r.genre), r.split) for r in rows}) > 1:
        labelled = " and ".join(f"{shown(r.genre)}{f' ({r.split})' if r.split else ''} on line {r.line}" for r in rows)
        problems.append(f"{path} lines {', '.join(str(r.line) for r in rows)}: skipped, {shown(first.name)} is one "
                        f"file labelled {labelled}")
        return None
    for row in rows[1:]:
        spelled = "listed again" if row.name == first.name else f"the same file as {shown(first.name)}"
        problems.append(f"{path} line {row.line}: {shown(row.name)} is {spelled} on line {first.line} with the same "
                        "genre; counted once")
    return first
