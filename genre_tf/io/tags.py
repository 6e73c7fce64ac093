"""Reading genres from audio files' own tags (mutagen): ID3 `TCON` (ID3v1 numeric genres included),
Vorbis and FLAC `GENRE`, MP4 `©gen`; and how a messy tag becomes a genre name. (Writing: tag_writer.)

Real tags are messy: `Hip-Hop`, `Hip Hop` and `hiphop` are one genre (`genre_key` ignores case, spaces,
punctuation and Latin accents, in any script), `Rock; Blues` or `Rock/Blues` (or several frames) are
several genres (`split_genres`; the first is taken), some are placeholders for none (`Unknown`, ID3's
255), and some are empty or binary. A labels CSV's genres follow the same rule.
"""
from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from pathlib import Path

from ..core.errors import DatasetError, first_line, shown

# Between several genres in one tag value.
_SEPARATORS = re.compile(r"\s*[;/|\\\x00]\s*")
# genre_key of the values that mean "no genre" (mutagen gives ID3's numeric codes as these names).
PLACEHOLDERS = frozenset({"unknown", "other", "remix", "cover", "none", "nogenre"})


class TagProblem(Exception):
    """A file whose tag cannot be used; the message names the cause (the caller adds the file)."""


def read_genres(path: str | Path) -> list[str]:
    """The genre values in a file's tag, split where one value holds several, in order, placeholders
    (`is_placeholder`: Unknown, Other) left out; [] where the file has no genre, or no tag. Raises
    TagProblem for a tag that cannot be read or a genre that is not text."""
    import mutagen

    try:
        audio = mutagen.File(path, easy=True)  # easy: one `genre` key for every format; ID3 numbers resolved
    except Exception as e:  # mutagen's errors for damaged tags are many kinds
        raise TagProblem(f"tag cannot be read ({first_line(e, 120) if str(e).strip() else 'damaged'})") from None
    if audio is None or audio.tags is None:
        return []
    values = audio.tags.get("genre", [])
    if not all(isinstance(v, str) and all(c.isprintable() or c == "\x00" for c in v) for v in values):
        raise TagProblem("the genre tag is not text")
    return [g for g in split_genres(values) if not is_placeholder(g)]


def split_genres(values: list[str]) -> list[str]:
    """A genre field's values as genres: one value holding several ('Rock; Blues', ID3v2.3's 'Rock/Blues')
    split, in order, blanks left out."""
    return [g.strip() for value in values for g in _SEPARATORS.split(value) if g.strip()]


def genre_key(name: str) -> str:
    """What makes two spellings one genre, in any script: its letters and digits, case-folded, Latin
    accents dropped ('Hip-Hop', 'hip hop' -> 'hiphop'; 'Électronique' -> 'electronique'; 'Электроника'
    -> 'электроника'); a genre of symbols alone (an emoji, '+') is its symbols. '' where it has neither."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name).casefold())
    kept, base = [], ""
    for char in folded:
        kind = unicodedata.category(char)
        if kind[0] in "LN":
            kept.append(char)
            base = char
        elif kind[0] == "M" and not (kind == "Mn" and _is_latin(base)):  # other scripts' marks are letters' parts
            kept.append(char)
    key = unicodedata.normalize("NFC", "".join(kept))
    return key or _symbols(name)


def genre_name(name: str) -> str:
    """A tag's genre as a label: lower case, accents and scripts kept, words joined by '-' ('Hip Hop' ->
    'hip-hop', 'Électronique' -> 'électronique'); a genre of symbols alone keeps them ('🎸')."""
    words, word = [], []
    for char in unicodedata.normalize("NFC", unicodedata.normalize("NFKC", name).lower()):
        if unicodedata.category(char)[0] in "LMN" or char in "&+":
            word.append(char)
        elif word:
            words.append("".join(word))
            word = []
    words += ["".join(word)] if word else []
    return "-".join(words) or _symbols(name)


def _symbols(name: str) -> str:
    """A genre without letters or digits is its symbols ('🎸', '+'); '' where it has none either."""
    return "".join(c for c in unicodedata.normalize("NFKC", name) if unicodedata.category(c)[0] == "S")


def _is_latin(char: str) -> bool:
    return bool(char) and unicodedata.name(char, "").startswith("LATIN")


def is_placeholder(genre: str) -> bool:
    """A tag value that means "no genre": ID3's Unknown (255, and 192 in ID3v1), Other (12), the Remix and
    Cover refinements (RX, CR), and the usual stand-ins."""
    return genre_key(genre) in PLACEHOLDERS


def names_by_key(spellings: list[str]) -> dict[str, str]:
    """{genre_key: label}: each genre's label is its most common spelling's `genre_name` (ties: the
    first in alphabetical order), so 'Hip-Hop' x3 and 'hiphop' x1 are all 'hip-hop'."""
    counts: dict[str, Counter] = {}
    for spelling in spellings:
        counts.setdefault(genre_key(spelling), Counter())[genre_name(spelling)] += 1
    return {key: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for key, c in counts.items() if key}


def read_genre_map(path: str | Path) -> dict[str, str | None]:
    """A genre map CSV (`from,to`): {genre_key of from: the genre it becomes, as written in `to` (a label is
    its `genre_name`; a tag is written as spelled), or None (an empty `to`) to drop that genre}."""
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
    mapping = {}
    for line, row in enumerate(rows, start=2):
        source, target = (row.get("from") or "").strip(), (row.get("to") or "").strip()
        if target and not genre_name(target):
            raise DatasetError(f"{path} line {line}: genre '{shown(target)}' has no letters, digits or symbols")
        if any(unicodedata.category(c) == "Cc" for c in target):
            raise DatasetError(f"{path} line {line}: genre '{shown(target)}' holds a control character (a line "
                               "break, a tab)")
        if genre_key(source):
            mapping[genre_key(source)] = target or None
    return mapping
