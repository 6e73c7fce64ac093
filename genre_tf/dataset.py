"""A labelled dataset on disk: `<root>/<genre>/<clip>.<ext>`, genre = folder, clip id = file stem."""
from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path

from .audio import AUDIO_EXTENSIONS
from .errors import DatasetError, first_line


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

    @property
    def genres(self) -> list[str]:
        return sorted({c.genre for c in self.clips})

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(c.genre for c in self.clips).items()))


def discover(root: str | Path) -> Dataset:
    """Find the clips under `root`. Raises DatasetError if there is no usable genre folder."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: data folder does not exist (expected <genre>/<clip>.wav|au|mp3|flac|ogg inside)")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    clips: list[Clip] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for genre_dir in list_entries(root, problems):
        if genre_dir.name.startswith(".") or not genre_dir.is_dir():
            continue
        found = 0
        for path in list_entries(genre_dir, problems):
            problem = _not_a_clip(path)
            if problem == "":
                continue
            if problem:
                problems.append(f"{path}: skipped, {problem}")
            elif path.stem in seen:
                problems.append(f"{path}: skipped, clip id '{path.stem}' already used by {seen[path.stem]}")
            else:
                seen[path.stem] = path
                clips.append(Clip(path.stem, genre_dir.name, path))
                found += 1
        if found == 0:
            problems.append(f"{genre_dir}: genre folder has no audio files; genre skipped")
    if not clips:
        raise DatasetError(f"{root}: no audio clips found (expected <genre>/<clip>.wav|au|mp3|flac|ogg)")
    return Dataset(root, clips, problems)


def list_entries(folder: Path, problems: list[str]) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        problems.append(f"{folder}: skipped, cannot be listed ({e.strerror or first_line(e)})")
        return []


def _not_a_clip(path: Path) -> str | None:
    """Why `path` is passed over ('' to pass silently: hidden files and plain folders), or None for a clip."""
    audio_name = path.suffix.lower() in AUDIO_EXTENSIONS
    if path.name.startswith(".") or (path.is_dir() and not audio_name):
        return ""
    if path.is_symlink() and not path.exists():
        return f"a dangling link (to {os.readlink(path)})"
    if path.is_dir():
        return "a folder named like an audio file"
    if not audio_name:
        return f"not an audio file extension ({path.suffix or 'none'}); supported: {', '.join(AUDIO_EXTENSIONS)}"
    return None
