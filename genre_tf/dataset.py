"""A labelled dataset on disk: `<root>/<genre>/<clip>.<ext>`, genre = folder, clip id = file stem."""
from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from .audio import AUDIO_EXTENSIONS
from .errors import DatasetError


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
    for genre_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = 0
        for path in sorted(genre_dir.iterdir()):
            if path.name.startswith(".") or path.is_dir():
                continue
            if path.suffix.lower() not in AUDIO_EXTENSIONS:
                problems.append(f"{path}: skipped, not an audio file extension ({path.suffix or 'none'}); "
                                f"supported: {', '.join(AUDIO_EXTENSIONS)}")
                continue
            if path.stem in seen:
                problems.append(f"{path}: skipped, clip id '{path.stem}' already used by {seen[path.stem]}")
                continue
            seen[path.stem] = path
            clips.append(Clip(path.stem, genre_dir.name, path))
            found += 1
        if found == 0:
            problems.append(f"{genre_dir}: genre folder has no audio files; genre skipped")
    if not clips:
        raise DatasetError(f"{root}: no audio clips found (expected <genre>/<clip>.wav|au|mp3|flac|ogg)")
    return Dataset(root, clips, problems)
