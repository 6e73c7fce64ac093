"""Genres in audio files' own tags (mutagen): ID3 `TCON` (ID3v1 numeric genres included), Vorbis and
FLAC `GENRE`, MP4 `©gen`; and how a messy tag becomes a genre name. genre-tf only reads tags.

Real tags are messy: `Hip-Hop`, `Hip Hop` and `hiphop` are one genre (`genre_key` ignores case, spaces
and punctuation), `Rock; Blues` or `Rock/Blues` (or several frames) are several genres (the first is
taken), and some are empty or binary.
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

from ..core.errors import DatasetError, first_line

# Between several genres in one tag value.
_SEPARATORS = re.compile(r"\s*[;/|\\\x00]\s*")


class TagProblem(Exception):
    """A file whose tag cannot be used; the message names the cause (the caller adds the file)."""


def read_genres(path: str | Path) -> list[str]:
    """The genre values in a file's tag, split where one value holds several, in order; [] where the file
    has a tag without a genre or no tag. Raises TagProblem for a tag that cannot be read or a genre that is
    not text."""
    import mutagen

    try:
        audio = mutagen.File(path, easy=True)  # easy: one `genre` key for every format; ID3 numbers resolved
    except Exception as e:  # mutagen's errors for damaged tags are many kinds
        raise TagProblem(f"tag cannot be read ({first_line(e, 120) if str(e).strip() else 'damaged'})") from None
    if audio is None or audio.tags is None:
        return []
    genres = []
    for value in audio.tags.get("genre", []):
        if not isinstance(value, str) or any(not c.isprintable() and c != "\x00" for c in value):
            raise TagProblem("the genre tag is not text")
        genres += [g for g in _SEPARATORS.split(value) if g.strip()]
    return [g.strip() for g in genres]


def genre_key(name: str) -> str:
    """What makes two spellings one genre: letters and digits, lower case ('Hip-Hop', 'hip hop' -> 'hiphop')."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def genre_name(name: str) -> str:
    """A tag's genre as a label: lower case, words joined by '-' ('Hip Hop' -> 'hip-hop')."""
    return "-".join(re.findall(r"[0-9a-z&+]+", name.lower()))


def names_by_key(spellings: list[str]) -> dict[str, str]:
    """{genre_key: label}: each genre's label is its most common spelling's `genre_name` (ties: the
    first in alphabetical order), so 'Hip-Hop' x3 and 'hiphop' x1 are all 'hip-hop'."""
    counts: dict[str, Counter] = {}
    for spelling in spellings:
        counts.setdefault(genre_key(spelling), Counter())[genre_name(spelling)] += 1
    return {key: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for key, c in counts.items() if key}


def read_genre_map(path: str | Path) -> dict[str, str | None]:
    """A genre map CSV (`from,to`): {genre_key of from: the label it becomes, or None (an empty `to`) to
    drop that genre}."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: genre map cannot be read ({first_line(e)})") from None
    if columns[:2] != ["from", "to"]:
        raise DatasetError(f"{path}: a genre map has the columns from,to (an empty `to` drops the genre), "
                           f"not {','.join(columns) or 'none'}")
    return {genre_key(r["from"]): genre_name(r["to"]) or None for r in rows if genre_key(r["from"] or "")}
