"""Audio collections on disk, and one rule for what in a folder is audio: a labelled dataset
(`<root>/<genre>/<clip>.<ext>`, genre = folder, clip id = file stem) and a library of songs at any depth."""
from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path

from ..core.errors import DatasetError, first_line, shown
from ..core.files import file_problem
from .audio import AUDIO_EXTENSIONS

_CLIP_PATTERN = "<genre>/<clip>." + "|".join(e.lstrip(".") for e in AUDIO_EXTENSIONS)


@dataclasses.dataclass(frozen=True)
class Clip:
    clip_id: str
    genre: str
    path: Path


@dataclasses.dataclass
class Dataset:
    root: Path
    clips: list[Clip]
    problems: list[str]  # one line each: files and folders that were passed over, and why
    splits: dict[str, str] = dataclasses.field(default_factory=dict)  # clip id -> train|valid|test, if labelled so

    @property
    def genres(self) -> list[str]:
        return sorted({c.genre for c in self.clips})

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(c.genre for c in self.clips).items()))


def discover(root: str | Path) -> Dataset:
    """Find the clips under `root`, laid out as `<root>/<genre>/<clip>.<ext>`.

    The genre is the folder's name and the clip id the file's stem. Hidden entries are ignored; files of other
    kinds, dangling links, a second file of one clip id and genre folders without audio are passed over, one
    line each in the result's `problems`.

    Args:
        root: the data folder.

    Returns:
        A `Dataset`: `root`, its `clips` (each with clip id, genre and path, in sorted order) and `problems`.

    Raises:
        DatasetError: `root` is not a readable folder, or no genre folder under it holds an audio file.
    """
    root = Path(root)
    problem = file_problem(root, folder=True)
    if problem:
        raise DatasetError(f"{shown(root)}: " + (f"data folder does not exist (expected {_CLIP_PATTERN} inside)"
                                                 if problem == "does not exist" else problem))
    clips: list[Clip] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for genre_dir in list_entries(root, problems):
        if genre_dir.name.startswith(".") or not genre_dir.is_dir():
            continue
        found = 0
        for path in list_entries(genre_dir, problems):
            kind, problem = entry_kind(path)
            if kind in ("problem", "other"):
                problems.append(f"{path}: skipped, {problem}")
            elif kind == "audio" and path.stem in seen:
                problems.append(f"{path}: skipped, clip id '{path.stem}' already used by {seen[path.stem]}")
            elif kind == "audio":
                seen[path.stem] = path
                clips.append(Clip(path.stem, genre_dir.name, path))
                found += 1
        if found == 0:
            problems.append(f"{genre_dir}: genre folder has no audio files; genre skipped")
    if not clips:
        raise DatasetError(f"{root}: no audio clips found (expected {_CLIP_PATTERN})")
    return Dataset(root, clips, problems)


def find_songs(folder: str | Path) -> tuple[list[Path], list[str]]:
    """Every audio file under `folder`, at any depth, in sorted order; and one line for each entry
    passed over that a user would want to hear of. Files of other kinds (cover art, playlists) are
    passed over in silence, counted in one line.

    Links to folders are followed, each folder once; hidden files and folders are left out.

    Args:
        folder: the folder of songs (a music library).

    Returns:
        The audio files' paths, and the lines about entries passed over (an unlistable folder, a dangling
            link, the count of other files).

    Raises:
        DatasetError: `folder` does not exist or is not a readable folder.
    """
    folder = Path(folder)
    problem = file_problem(folder, folder=True)
    if problem:
        raise DatasetError(f"{shown(folder)}: {'folder does not exist' if problem == 'does not exist' else problem}")
    songs, problems, others, seen = [], [], Counter(), set()

    def walk(directory: Path) -> None:
        seen.add(directory.resolve())  # a link back up the tree is not followed twice
        for path in list_entries(directory, problems):
            kind, problem = entry_kind(path)
            if kind == "folder" and path.resolve() not in seen:
                walk(path)
            elif kind == "audio":
                songs.append(path)
            elif kind == "other":
                others[path.suffix.lower() or "no extension"] += 1
            elif kind == "problem":
                problems.append(f"{path}: skipped, {problem}")

    walk(folder)
    if others:
        problems.append(f"{folder}: passed over {sum(others.values())} files that are not audio ("
                        + ", ".join(f"{ext} {n}" for ext, n in others.most_common()) + ")")
    return songs, problems


def list_entries(folder: Path, problems: list[str]) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        problems.append(f"{folder}: skipped, cannot be listed ({e.strerror or first_line(e)})")
        return []


def entry_kind(path: Path) -> tuple[str, str]:
    """What a folder entry is to a collection, and why where it cannot be used: "audio" (a clip or a
    song), "folder", "hidden" (dot files), "other" (a file of another kind: cover art, a playlist) or
    "problem" (a dangling link, a folder named like an audio file)."""
    audio_name = path.suffix.lower() in AUDIO_EXTENSIONS
    if path.name.startswith("."):
        return "hidden", ""
    if path.is_symlink() and not path.exists():
        return "problem", f"a dangling link (to {os.readlink(path)})"
    if path.is_dir():
        return ("problem", "a folder named like an audio file") if audio_name else ("folder", "")
    if not audio_name:
        return "other", (f"not an audio file extension ({path.suffix or 'none'}); supported: "
                         f"{', '.join(AUDIO_EXTENSIONS)}")
    return "audio", ""
