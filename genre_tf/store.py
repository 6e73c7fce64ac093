"""The feature store: one memory-mapped .npy per feature, a segment index and a manifest.

A store folder (`--store`) holds one sub-store per segment length, named by it: `features/3s/`,
`features/6s/`. Layout of a sub-store:
    manifest.json            written last and atomically: a store without it is not complete
    segments.<gen>.csv       row -> clip id, genre, segment number
    <feature>.<gen>.npy      (rows, *shape) per feature
    .partial/                an extraction in progress: one shard per finished clip

Every rewrite writes a new generation of files and then replaces the manifest, so a crash at any
point leaves either the old store or the new one, never a mixture.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import StoreError
from .params import DEFAULT_SEGMENT_SECONDS, segment_label

MANIFEST = "manifest.json"
PARTIAL = ".partial"
FORMAT_VERSION = 1


def _temp_beside(path: Path) -> tuple[int, str]:
    """A temporary file in path's folder (so the final rename is atomic), with the usual permissions."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write via a temporary file in the same folder and rename: readers see old or new, never half."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npz_atomic(path: Path, **arrays) -> None:
    buffer = io.BytesIO()  # a shard is one clip's features: small
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


@dataclasses.dataclass
class SegmentIndex:
    clip_ids: np.ndarray  # (rows,) str
    genres: np.ndarray  # (rows,) str
    segments: np.ndarray  # (rows,) int

    def __len__(self) -> int:
        return len(self.clip_ids)

    def clip_genres(self) -> dict[str, str]:
        return dict(zip(self.clip_ids.tolist(), self.genres.tolist()))

    def rows_of(self, clip_ids) -> np.ndarray:
        """Row numbers of every segment of the given clips, in store order."""
        return np.flatnonzero(np.isin(self.clip_ids, list(clip_ids)))

    def write(self, path: Path) -> None:
        lines = ["clip_id,genre,segment"] + [f"{c},{g},{s}" for c, g, s in zip(self.clip_ids, self.genres, self.segments)]
        write_atomic(path, "\n".join(lines) + "\n")

    @classmethod
    def read(cls, path: Path) -> "SegmentIndex":
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        return cls(np.array([r["clip_id"] for r in rows], dtype=str), np.array([r["genre"] for r in rows], dtype=str),
                   np.array([int(r["segment"]) for r in rows], dtype=np.int32))


def segment_folder(store: str | Path, segment_seconds: float) -> Path:
    """The sub-store of `store` for segments of `segment_seconds`."""
    store = Path(store)
    if (store / MANIFEST).exists():
        raise StoreError(f"{store}: a store in the layout of genre-tf before 0.2 (one segment length, files at the top); "
                         f"move its files into {store / '3s'} or extract again into a new --store")
    return store / f"{segment_seconds:g}s"


class FeatureStore:
    """A complete store of one segment length, opened for reading. Arrays are memory-mapped, never
    loaded whole."""

    def __init__(self, store: str | Path, segment_seconds: float = DEFAULT_SEGMENT_SECONDS):
        self.root = segment_folder(store, segment_seconds)
        manifest_path = self.root / MANIFEST
        command = f"genre-tf extract --store {store}" + (f" --segment-seconds {segment_seconds:g}"
                                                         if segment_label(segment_seconds) else "")
        if not manifest_path.exists():
            if (self.root / PARTIAL).exists():
                raise StoreError(f"{self.root}: extraction was interrupted; rerun `{command}` to finish it")
            others = sorted(p.name for p in Path(store).glob("*s") if (p / MANIFEST).exists())
            held = f" (it holds {', '.join(others)} segments)" if others else ""
            raise StoreError(f"{self.root}: no feature store here{held}; run `{command}` first")
        try:
            self.manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise StoreError(f"{manifest_path}: unreadable manifest ({e})") from None
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise StoreError(f"{manifest_path}: store format {self.manifest.get('format_version')} is not "
                             f"{FORMAT_VERSION}; rebuild it with `genre-tf extract --rebuild`")
        self.index = SegmentIndex.read(self.root / self.manifest["index_file"])

    @property
    def feature_names(self) -> list[str]:
        return list(self.manifest["features"])

    def feature_params(self, name: str) -> dict:
        return self.manifest["features"][name]["params"]

    def array(self, name: str) -> np.ndarray:
        if name not in self.manifest["features"]:
            raise StoreError(f"{self.root}: store has no '{name}' feature (it has {', '.join(self.feature_names) or 'none'}); "
                             f"run `genre-tf extract --features {name}` with the same --store and --segment-seconds")
        return np.load(self.root / self.manifest["features"][name]["file"], mmap_mode="r")

    @property
    def genres(self) -> list[str]:
        return sorted(set(self.index.genres.tolist()))

    def __len__(self) -> int:
        return len(self.index)
