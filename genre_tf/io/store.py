"""The feature store: one memory-mapped .npy per feature, a segment index and a manifest. This module
is the only one that writes or reads its files.

A store folder (`--store`) holds one sub-store per segment length, named by it: `features/3s/`,
`features/6s/`. Layout of a sub-store:
    manifest.json            written last and atomically: a store without it is not complete
    segments.<gen>.csv       row -> clip id, genre, segment number (RFC 4180 quoting: any file name)
    <feature>.<gen>.npy      (rows, *shape) per feature
    .partial/                an extraction in progress: plan.json (what it extracts, from where)
                             and one shard <clip id>.npz per finished clip
    .lock                    held (flock) by the extraction writing this store
    problems.txt             every file the last extraction passed over and why, where there were more
                             than it printed

Every rewrite writes a new generation of files and then replaces the manifest, so a crash at any
point leaves either the old store or the new one, never a mixture.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import zipfile
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..config import DEFAULT_SEGMENT_SECONDS, SegmentParams, as_dict, segment_label
from ..core.errors import GenreTfError, StoreError, first_line
from ..core.files import Lock, remove_stale_temporaries, save_npz_atomic, write_atomic
from ..core.provenance import library_versions, now_iso
from .labels import LabelSource

MANIFEST = "manifest.json"
PARTIAL = ".partial"
PLAN = "plan.json"
LOCK = ".lock"
PROBLEMS = "problems.txt"
FORMAT_VERSION = 1


@dataclasses.dataclass
class FeatureEntry:
    params: dict
    file: str
    shape: list[int]
    dtype: str


@dataclasses.dataclass
class ClipEntry:
    genre: str
    fingerprint: dict  # path, size, mtime_ns, audio (its digest): a clip whose audio changed is extracted again
    start: int  # first row
    count: int  # segments
    split: str | None = None  # train|valid|test where its labels say (a labels CSV's split column, FMA's)


def same_file(a: dict, b: dict) -> bool:
    """Whether two clip fingerprints are of the same file with the same audio: unchanged (size and
    mtime), or changed but decoding to the same audio (`audio`: its digest; a retagged song). The label
    is not part of it (stores before label sources kept the genre in it): a relabelled clip keeps its
    features."""
    unchanged = a.get("size") == b.get("size") and a.get("mtime_ns") == b.get("mtime_ns")
    same_audio = bool(a.get("audio")) and a.get("audio") == b.get("audio")
    return a.get("path") == b.get("path") and (unchanged or same_audio)


def segment_record(record: dict) -> dict:
    """A store's segment parameters with every current field (a store from before `hop_samples` has none:
    its segments did not overlap, the default)."""
    return as_dict(SegmentParams(**record))


@dataclasses.dataclass
class Manifest:
    generation: int
    created: str
    updated: str
    data: str  # the data folder, absolute
    segment_params: dict
    features: dict[str, FeatureEntry]
    index_file: str
    clips: dict[str, ClipEntry]
    skipped: list[dict]  # {"clip_id", "fingerprint", "message"}: bad files, not retried while unchanged
    library_versions: dict
    format_version: int = FORMAT_VERSION
    labels: dict | None = None  # the label source's record (io/labels.py); None: genre folders

    @property
    def label_description(self) -> str:
        """Where the labels came from, in words ('fma small')."""
        return LabelSource.of_record(self.labels).describe()

    @property
    def segments(self) -> int:
        return sum(c.count for c in self.clips.values())

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise StoreError(f"{path}: unreadable manifest ({e}); extract again with --rebuild") from None
        if not isinstance(raw, dict):
            raise StoreError(f"{path}: damaged manifest (not a JSON object); extract again with --rebuild")
        if raw.get("format_version") != FORMAT_VERSION:
            raise StoreError(f"{path}: store format {raw.get('format_version')} is not {FORMAT_VERSION}; "
                             "extract again with --rebuild")
        try:
            manifest = cls(**{**raw, "segment_params": segment_record(raw["segment_params"]),
                              "features": {n: FeatureEntry(**f) for n, f in raw["features"].items()},
                              "clips": {c: ClipEntry(**e) for c, e in raw["clips"].items()}})
            manifest._check_types()
            return manifest
        except (KeyError, TypeError, AttributeError, ValueError, GenreTfError) as e:
            raise StoreError(f"{path}: damaged manifest ({first_line(e) or type(e).__name__}); "
                             "extract again with --rebuild") from None

    def _check_types(self) -> None:
        """Every field a reader relies on has its type (a hand-edited or damaged file fails here, in one line)."""
        for name, entry in self.features.items():
            if not (isinstance(entry.file, str) and isinstance(entry.dtype, str) and isinstance(entry.shape, list)
                    and all(isinstance(n, int) and n > 0 for n in entry.shape)):
                raise ValueError(f"feature '{name}' has a bad file, dtype or shape")
        for clip_id, clip in self.clips.items():
            if not (isinstance(clip.genre, str) and isinstance(clip.fingerprint, dict) and isinstance(clip.start, int)
                    and isinstance(clip.count, int) and clip.start >= 0 and clip.count > 0):
                raise ValueError(f"clip '{clip_id}' has a bad genre, fingerprint, start or count")
        if not isinstance(self.index_file, str) or not isinstance(self.skipped, list):
            raise ValueError("bad index_file or skipped")


@dataclasses.dataclass
class Plan:
    """What an extraction in progress extracts, and from where: a rerun with only `--store` finishes it."""

    data: str
    segment_params: dict
    features: dict[str, dict]  # name -> parameters, the store's and the new ones
    labels: dict | None = None  # the label source's record

    @classmethod
    def read(cls, path: Path) -> Plan | None:
        try:
            raw = json.loads(path.read_text())
            return cls(**{**raw, "segment_params": segment_record(raw["segment_params"])})
        except (OSError, ValueError, TypeError, KeyError, GenreTfError):
            return None  # no plan, or the half of one: the shards beside it cannot be trusted


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
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["clip_id", "genre", "segment"])
        writer.writerows(zip(self.clip_ids.tolist(), self.genres.tolist(), self.segments.tolist()))
        write_atomic(path, text.getvalue())

    @classmethod
    def read(cls, path: Path) -> SegmentIndex:
        try:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            return cls(np.array([r["clip_id"] for r in rows], dtype=str),
                       np.array([r["genre"] for r in rows], dtype=str),
                       np.array([int(r["segment"]) for r in rows], dtype=np.int32))
        except (OSError, KeyError, ValueError, TypeError, csv.Error) as e:
            raise StoreError(f"{path}: unreadable segment index ({e}); extract again with --rebuild") from None


def segment_folder(store: str | Path, segment_seconds: float) -> Path:
    """The sub-store of `store` for segments of `segment_seconds`."""
    store = Path(store)
    if (store / MANIFEST).exists():
        raise StoreError(f"{store}: a store in the layout of genre-tf before 0.2 (one segment length, files at the "
                         f"top); move its files into {store / '3s'} or extract again into a new --store")
    return store / f"{segment_seconds:g}s"


def extract_command(store: str | Path, segment_seconds: float) -> str:
    """The command that builds, finishes or refreshes this sub-store."""
    label = segment_label(segment_seconds)
    return f"genre-tf extract --store {store}" + (f" --segment-seconds {segment_seconds:g}" if label else "")


@dataclasses.dataclass
class _Source:
    """Where one clip's rows come from at commit: its shard (features computed now) or the old store."""

    clip_id: str
    genre: str
    fingerprint: dict
    kept: ClipEntry | None
    shard: Path
    shard_features: set[str]
    count: int
    split: str | None


class StoreWriter:
    """Writes one sub-store, holding its lock: `with StoreWriter(root) as writer:`. A second writer
    on the same store fails at once with one line (no waiting on a run that may take hours)."""

    def __init__(self, root: Path):
        self.root = root
        self.partial = root / PARTIAL
        self.lock = Lock(root / LOCK)

    def __enter__(self) -> StoreWriter:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.lock.acquire():
            raise StoreError(f"{self.root}: another extraction is writing this store (pid {self.lock.holder()}); "
                             "wait for it to finish, or use another --store")
        for folder in (self.root, self.partial):  # what killed writers left behind
            remove_stale_temporaries(folder)
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()

    def manifest(self) -> Manifest | None:
        path = self.root / MANIFEST
        return Manifest.read(path) if path.exists() else None

    def plan(self) -> Plan | None:
        return Plan.read(self.partial / PLAN) if self.partial.exists() else None

    def discard_partial(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)

    def has_shards(self) -> bool:
        """Whether an unfinished extraction saved any clip (else its plan holds nothing worth finishing)."""
        return self.partial.is_dir() and any(self.partial.glob("*.npz"))

    def record_problems(self, problems: list[str]) -> Path:
        """Every line about a file passed over, kept beside the store (none: the file is removed)."""
        path = self.root / PROBLEMS
        if problems:
            write_atomic(path, "".join(f"{line}\n" for line in problems))
        else:
            path.unlink(missing_ok=True)
        return path

    def start(self, plan: Plan) -> None:
        """Begin (or go on with) the extraction `plan`; the caller has refused a different one."""
        self.partial.mkdir(exist_ok=True)
        write_atomic(self.partial / PLAN, json.dumps(dataclasses.asdict(plan), indent=1))

    def _shard(self, clip_id: str) -> Path:
        """A clip id may be a relative path (a labels CSV, a tagged library): quoted into one file name."""
        name = quote(clip_id, safe="")
        return self.partial / f"{name if len(name) <= 200 else hashlib.sha1(clip_id.encode()).hexdigest()}.npz"

    def shard_features(self, clip_id: str, fingerprint: dict) -> set[str]:
        """Features an interrupted run already saved for this clip (none if its file changed since)."""
        shard = self._shard(clip_id)
        if not shard.exists():
            return set()
        try:
            with np.load(shard) as z:
                same = same_file(json.loads(str(z["fingerprint"])), fingerprint)
                return set(z.files) - {"fingerprint"} if same else set()
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return set()  # a damaged shard (cut short, empty): the clip is extracted again

    def save_shard(self, clip_id: str, fingerprint: dict, arrays: dict[str, np.ndarray]) -> None:
        save_npz_atomic(self._shard(clip_id), fingerprint=json.dumps(fingerprint), **arrays)

    def commit(self, old: Manifest | None, clips: list[tuple[str, str, dict, str | None]], plan: Plan,
               dtypes: dict[str, str], skipped: list[dict]) -> Manifest:
        """Write a new generation from the old store's rows and the shards, then the manifest; then
        remove the old generation and the shards. `clips`: (clip id, genre, fingerprint, split) in order."""
        sources = self._sources(old, clips, plan, {s["clip_id"] for s in skipped})
        if not sources:
            self.discard_partial()  # it holds no finished clip
            raise StoreError(f"no usable clips in {plan.data}: every clip was skipped")
        generation = self._next_generation()
        try:
            features = self._write_arrays(generation, old, sources, plan.features, dtypes)
            clip_table, start = {}, 0
            for s in sources:
                clip_table[s.clip_id] = ClipEntry(s.genre, s.fingerprint, start, s.count, s.split)
                start += s.count
            index_file = f"segments.{generation}.csv"
            SegmentIndex(np.array([s.clip_id for s in sources for _ in range(s.count)], dtype=str),
                         np.array([s.genre for s in sources for _ in range(s.count)], dtype=str),
                         np.concatenate([np.arange(s.count) for s in sources])).write(self.root / index_file)
            manifest = Manifest(generation, old.created if old else now_iso(), now_iso(), plan.data,
                                plan.segment_params, features, index_file, clip_table, skipped, library_versions(),
                                labels=plan.labels)
            self._check_parts(manifest)
        except StoreError:
            for path in self._generation_files():  # this generation's files: the previous store stays as it was
                if int(path.name.split(".")[1]) == generation:
                    path.unlink(missing_ok=True)
            raise
        write_atomic(self.root / MANIFEST, manifest.to_json())
        # The new manifest is committed: earlier generations and the shards are garbage now.
        for path in self._generation_files():
            if path.name not in {index_file, *(f.file for f in features.values())}:
                path.unlink(missing_ok=True)
        self.discard_partial()
        return manifest

    def _check_parts(self, manifest: Manifest) -> None:
        """The invariant a reader relies on, checked on the written files before the manifest commits them:
        index rows = the manifest's segments = every array's rows, and each clip once, in index order."""
        index = SegmentIndex.read(self.root / manifest.index_file)
        clip_ids = [clip_id for clip_id, clip in manifest.clips.items() for _ in range(clip.count)]
        if clip_ids != index.clip_ids.tolist():
            repeated = [c for c, n in Counter(index.clip_ids.tolist()).items() if n > manifest.clips[c].count]
            raise _parts_disagree(self.root, f"clip '{repeated[0]}' is in the index twice" if repeated else
                                  f"{len(index)} index rows, {manifest.segments} segments in the manifest"
                                  if len(index) != manifest.segments else "index rows out of the manifest's order")
        for name, entry in manifest.features.items():
            rows = np.load(self.root / entry.file, mmap_mode="r").shape[0]
            if rows != len(index):
                raise _parts_disagree(self.root, f"{name} has {rows} rows, the index {len(index)}")

    def _generation_files(self) -> list[Path]:
        return [p for p in self.root.iterdir() if re.fullmatch(r"[^.]+\.\d+\.(npy|csv)", p.name)]

    def _next_generation(self) -> int:
        """Above every generation on disk (a rebuild, or a commit that crashed, may have left some)."""
        return 1 + max((int(p.name.split(".")[1]) for p in self._generation_files()), default=0)

    def _sources(self, old: Manifest | None, clips, plan: Plan, skipped_ids: set[str]) -> list[_Source]:
        sources = []
        for clip_id, genre, fingerprint, split in clips:
            if clip_id in skipped_ids:
                continue
            kept = old.clips.get(clip_id) if old else None
            kept = kept if kept and same_file(kept.fingerprint, fingerprint) else None
            shard, shard_features, count = self._shard(clip_id), set(), kept.count if kept else 0
            if shard.exists():
                with np.load(shard) as z:
                    shard_features = set(z.files) & set(plan.features)
                    count = len(z[next(iter(shard_features))])
            sources.append(_Source(clip_id, genre, fingerprint, kept, shard, shard_features, count, split))
        return sources

    def _write_arrays(self, generation: int, old: Manifest | None, sources: list[_Source], params: dict[str, dict],
                      dtypes: dict[str, str]) -> dict[str, FeatureEntry]:
        """One array file per feature, filled in one pass over the sources: each shard is read once.
        Written with plain writes, not through a memory map: a disk that fills up is an OSError here (a
        memory-mapped write would die by SIGBUS), and the free space is checked first."""
        from numpy.lib import format as npy

        old_arrays = {name: np.load(self.root / old.features[name].file, mmap_mode="r")
                      for name in params if old and name in old.features}

        def rows(s: _Source) -> dict[str, np.ndarray]:
            kept = {name: old_arrays[name][s.kept.start:s.kept.start + s.kept.count]
                    for name in params if name not in s.shard_features}
            if not s.shard_features:
                return kept
            with np.load(s.shard) as z:
                return {**kept, **{name: z[name] for name in s.shard_features}}

        shapes = {name: values.shape[1:] for name, values in rows(sources[0]).items()}
        total = sum(s.count for s in sources)
        files = {name: f"{name}.{generation}.npy" for name in params}
        needed = sum(total * int(np.prod(shapes[n])) * np.dtype(dtypes[n]).itemsize for n in params)
        free = shutil.disk_usage(self.root).free
        if needed > free:
            raise StoreError(f"{self.root}: not enough free space to write the store ({needed / 1e6:,.0f} MB needed, "
                             f"{free / 1e6:,.0f} MB free); nothing was changed and the clips extracted so far are "
                             "kept: free some space and run the same command again")
        with contextlib.ExitStack() as stack:
            out = {name: stack.enter_context(open(self.root / files[name], "wb")) for name in params}
            try:
                for name, f in out.items():
                    npy.write_array_header_1_0(f, {"descr": npy.dtype_to_descr(np.dtype(dtypes[name])),
                                                   "fortran_order": False, "shape": (total, *shapes[name])})
                for s in sources:
                    for name, values in rows(s).items():
                        if len(values) != s.count:
                            raise _parts_disagree(self.root, f"clip '{s.clip_id}' has {len(values)} rows of {name} "
                                                             f"and {s.count} segments")
                        out[name].write(np.ascontiguousarray(values, dtype=dtypes[name]).tobytes())
                for f in out.values():
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                for name in params:
                    (self.root / files[name]).unlink(missing_ok=True)
                raise StoreError(f"{self.root}: cannot write the store ({first_line(e)}); nothing was changed and the "
                                 "clips extracted so far are kept: run the same command again") from None
        return {name: FeatureEntry(params[name], files[name], list(shapes[name]), dtypes[name]) for name in params}


def _parts_disagree(root: Path, detail: str) -> StoreError:
    return StoreError(f"{root}: the new store's parts disagree ({detail}); it is not committed and the previous "
                      "store is kept")


class FeatureStore:
    """A complete store of one segment length, opened for reading. Arrays are memory-mapped, never
    loaded whole.

    Opening checks that the manifest, the segment index and the folder agree, so that a store cut short or
    edited by hand is refused in one line rather than trained on with misaligned rows. `len(store)` is its
    number of segments (rows).

    Args:
        store: the store folder (`--store`), which holds one sub-store per segment length.
        segment_seconds: which sub-store to open: its segment length in seconds.

    Attributes:
        root: the sub-store's folder (`<store>/3s` for 3 s segments).
        manifest: what the store holds: its features and their parameters, its clips, its data folder and
            label source.
        index: one row per segment: `clip_ids`, `genres` and `segments` (the segment's number in its clip).

    Raises:
        StoreError: no complete store of that segment length (none, an interrupted extraction, the layout of
            an older version), or one damaged or of another format version.
    """

    def __init__(self, store: str | Path, segment_seconds: float = DEFAULT_SEGMENT_SECONDS):
        self.root = segment_folder(store, segment_seconds)
        manifest_path = self.root / MANIFEST
        command = extract_command(store, segment_seconds)
        if not manifest_path.exists():
            plan = Plan.read(self.root / PARTIAL / PLAN)
            if plan:
                raise StoreError(f"{self.root}: extraction of {plan.data} was interrupted; rerun `{command}` to "
                                 "finish it")
            others = sorted(p.name for p in Path(store).glob("*s") if (p / MANIFEST).exists())
            held = f" (it holds {', '.join(others)} segments)" if others else ""
            raise StoreError(f"{self.root}: no feature store here{held}; run `{command} --data FOLDER` first")
        self.manifest = Manifest.read(manifest_path)
        self.index = SegmentIndex.read(self.root / self.manifest.index_file)
        self._check(segment_seconds)

    def _damaged(self, what: str, cause: str) -> StoreError:
        return StoreError(f"{what}: damaged store ({cause}); extract again with --rebuild")

    def _check(self, segment_seconds: float) -> None:
        """The manifest, the index and the folder agree: a store cut short or edited by hand is refused
        here, in one line, instead of training on misaligned rows."""
        manifest, where = self.manifest, self.root / MANIFEST
        samples = manifest.segment_params["segment_samples"]
        if samples != round(segment_seconds * manifest.segment_params["sample_rate"]):
            raise self._damaged(where, f"segments of {samples} samples in the folder of {segment_seconds:g} s ones")
        if len(self.index) != manifest.segments:
            raise self._damaged(self.root / manifest.index_file,
                                f"{len(self.index)} rows where the manifest counts {manifest.segments} segments")
        expected = np.empty(len(self.index), dtype=object)
        for clip_id, clip in manifest.clips.items():
            if clip.start + clip.count > len(self.index):
                raise self._damaged(where, f"clip '{clip_id}' lies past the index's end")
            expected[clip.start:clip.start + clip.count] = clip_id
        if not np.array_equal(expected.astype(str), self.index.clip_ids):
            raise self._damaged(self.root / manifest.index_file, "its rows do not match the manifest's clips")

    @property
    def feature_names(self) -> list[str]:
        """The features the store holds, in the manifest's order."""
        return list(self.manifest.features)

    def feature_params(self, name: str) -> dict:
        """The parameters feature `name` was extracted with (its parameter dataclass as a dict).

        Args:
            name: one of `feature_names`.

        Returns:
            The parameters, by field name.
        """
        return self.manifest.features[name].params

    def array(self, name: str) -> np.ndarray:
        """Every segment's values of feature `name`, memory-mapped read-only.

        Args:
            name: a feature name (`FEATURES`).

        Returns:
            A (segments, *feature shape) array in the feature's storage dtype (float16 or float32), row k the
                segment of row k of `index`.

        Raises:
            StoreError: the store has no such feature, or its file is missing or damaged.
        """
        if name not in self.manifest.features:
            raise StoreError(f"{self.root}: store has no '{name}' feature (it has "
                             f"{', '.join(self.feature_names) or 'none'}); "
                             f"run `genre-tf extract --features {name}` with the same --store and --segment-seconds")
        entry = self.manifest.features[name]
        path = self.root / entry.file
        try:
            array = np.load(path, mmap_mode="r")
        except FileNotFoundError:
            raise self._damaged(path, "the feature file is missing") from None
        except (OSError, ValueError, EOFError) as e:  # truncated, not an .npy, an object array
            raise self._damaged(path, first_line(e)) from None
        if array.shape != (len(self.index), *entry.shape) or str(array.dtype) != entry.dtype:
            raise self._damaged(path, f"holds {array.dtype} {array.shape}, the manifest says {entry.dtype} "
                                      f"{(len(self.index), *entry.shape)}")
        return array

    def label_splits(self) -> dict[str, str]:
        """{clip id: train|valid|test} where the store's labels carry a split (a CSV's column, FMA's).

        Returns:
            Each clip's part of the labels' split; {} where they carry none.
        """
        return {c: e.split for c, e in self.manifest.clips.items() if e.split}

    @property
    def genres(self) -> list[str]:
        """The genres of the store's clips, sorted: a run's label order."""
        return sorted(set(self.index.genres.tolist()))

    def __len__(self) -> int:
        return len(self.index)
