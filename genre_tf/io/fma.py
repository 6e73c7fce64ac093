"""FMA, the Free Music Archive dataset (Defferrard et al. 2017), as released: audio named by track id
(`fma_small/000/000002.mp3`) and `fma_metadata/tracks.csv`, whose columns have a two-row header
(`track`/`set`/... over `genre_top`/`split`/`subset`/...). This module is the only one that reads it,
the way FMA's own `utils.load` does (pandas, `header=[0, 1], index_col=0`).

The label is `track.genre_top`, the clip id the six-digit track id, the split `set.split`
(training/validation/test). A subset holds the smaller ones: `medium` is small + medium tracks.
"""
from __future__ import annotations

from pathlib import Path

from ..config import FMA_SUBSETS
from ..core.errors import DatasetError, first_line

GENRE, SPLIT, SUBSET = ("track", "genre_top"), ("set", "split"), ("set", "subset")
SPLITS = {"training": "train", "validation": "valid", "test": "test"}
TRACKS = "tracks.csv"


def find_tracks_csv(data: Path, metadata: str | Path | None) -> Path:
    """`metadata`'s tracks.csv, else the one beside the audio: fma_metadata/ next to or inside `data`."""
    candidates = [Path(metadata)] if metadata else [data.parent / "fma_metadata", data / "fma_metadata"]
    for folder in candidates:
        if (folder / TRACKS).is_file():
            return (folder / TRACKS).resolve()
        if folder.is_file() and folder.name == TRACKS:
            return folder.resolve()
    where = " or ".join(str(c) for c in candidates)
    raise DatasetError(f"FMA's {TRACKS} not found in {where}; download fma_metadata.zip and pass "
                       "`fma_metadata` DIR")


def audio_path(root: Path, track_id: int) -> Path:
    name = f"{track_id:06d}"
    return root / name[:3] / f"{name}.mp3"


def read_fma(root: Path, tracks_csv: Path, subset: str) -> tuple[list[tuple[str, str, Path, str | None]], list[str]]:
    """[(track id, genre, audio path, split)] of the subset's tracks, and one line per track or file
    passed over (and one counting the tracks without a top genre)."""
    import pandas as pd

    try:
        tracks = pd.read_csv(tracks_csv, header=[0, 1], index_col=0, low_memory=False)
    except Exception as e:  # pandas raises many kinds for a file that is not a CSV
        raise DatasetError(f"{tracks_csv}: cannot be read as FMA's {TRACKS} ({first_line(e)})") from None
    missing = [".".join(c) for c in (GENRE, SPLIT, SUBSET) if c not in tracks.columns]
    if missing or not pd.api.types.is_integer_dtype(tracks.index):
        raise DatasetError(f"{tracks_csv}: not FMA's {TRACKS} (no {', '.join(missing) or 'integer track_id index'}); "
                           "expected its two-row header: track/set/... over genre_top/split/subset/...")
    chosen = tracks[tracks[SUBSET].isin(FMA_SUBSETS[:FMA_SUBSETS.index(subset) + 1])]
    clips, problems, without_genre = [], [], 0
    for track_id, genre, split in zip(chosen.index, chosen[GENRE], chosen[SPLIT]):
        if not isinstance(genre, str) or not genre.strip():
            without_genre += 1
            continue
        audio = audio_path(root, int(track_id))
        if not audio.is_file():
            problems.append(f"{tracks_csv} track {track_id}: skipped, no audio at {audio}")
            continue
        clips.append((f"{int(track_id):06d}", genre.strip(), audio, SPLITS.get(str(split))))
    if without_genre:
        problems.append(f"{tracks_csv}: {without_genre} tracks of fma_{subset} have no top genre (genre_top); skipped")
    listed = {audio_path(root, int(t)) for t in tracks.index}
    for audio in sorted(root.glob("[0-9][0-9][0-9]/*.mp3")):
        if audio not in listed:
            problems.append(f"{audio}: skipped, no row in {tracks_csv}")
    return clips, problems
