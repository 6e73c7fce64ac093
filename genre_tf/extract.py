"""`genre-tf extract`: a folder of labelled clips -> a feature store, resumably.

Each finished clip is saved as a shard in <store>/.partial; once every clip is done the shards and
the rows kept from the previous store are consolidated into a new generation of arrays, and the
manifest is replaced last. A run interrupted at any point resumes from its shards.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Iterator

import numpy as np

from .audio import load_audio, split_segments
from .dataset import Clip, discover
from .errors import AudioError, StoreError
from .features import get_feature
from .params import SegmentParams, as_dict
from .provenance import library_versions, now_iso
from .store import FORMAT_VERSION, MANIFEST, PARTIAL, SegmentIndex, save_npz_atomic, segment_folder, write_atomic


class ExtractEvents:
    """What extraction tells its caller; the CLI shows it, the library stays silent by default."""

    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def start(self, total_clips: int) -> None: ...
    def clip_done(self, clip: Clip, segments: int) -> None: ...
    def clip_failed(self, clip: Clip, error: str) -> None: ...


@dataclasses.dataclass
class ExtractResult:
    store: Path
    clips: int
    segments: int
    extracted: int  # clips decoded in this run
    reused: int  # clips whose rows came from the previous store or an interrupted run
    skipped: list[str]
    shapes: dict[str, tuple]
    seconds: float
    feature_seconds: dict[str, float]  # time spent computing each feature in this run
    decode_seconds: float  # time the feature batches waited for decoding threads
    segments_extracted: int
    up_to_date: bool


def _fingerprint(clip: Clip) -> dict:
    st = clip.path.stat()
    return {"path": str(clip.path.resolve()), "genre": clip.genre, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_manifest(store: Path) -> dict | None:
    path = store / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise StoreError(f"{path}: unreadable manifest ({e}); use --rebuild") from None
    return manifest if manifest.get("format_version") == FORMAT_VERSION else None


def _check_compatible(old: dict, data_root: str, segment: dict, features: dict[str, dict]) -> None:
    hint = "use --rebuild to recompute everything, or another --store"
    if old["data"] != data_root:
        raise StoreError(f"store was built from {old['data']}, not {data_root}; {hint}")
    if old["segment_params"] != segment:
        changed = {k: (old["segment_params"].get(k), v) for k, v in segment.items() if old["segment_params"].get(k) != v}
        raise StoreError(f"segment parameters differ from the store's ({', '.join(f'{k}: {a} -> {b}' for k, (a, b) in changed.items())}); {hint}")
    for name, params in features.items():
        if name in old["features"] and old["features"][name]["params"] != params:
            raise StoreError(f"'{name}' was extracted with other parameters ({old['features'][name]['params']}); {hint}")


def extract(data: str | Path, store: str | Path, features: list[str], segment: SegmentParams = SegmentParams(),
            feature_params: dict[str, object] | None = None, rebuild: bool = False,
            events: ExtractEvents = ExtractEvents(), batch_size: int = 64, workers: int = 2) -> ExtractResult:
    started = time.perf_counter()
    store = segment_folder(store, segment.segment_seconds)
    dataset = discover(data)
    for problem in dataset.problems:
        events.warn(problem)
    events.info(f"{len(dataset.clips)} clips in {len(dataset.genres)} genres: "
                + ", ".join(f"{g} {n}" for g, n in dataset.counts().items()))

    feature_params = {**{n: get_feature(n).params_class() for n in features}, **(feature_params or {})}
    requested = {n: as_dict(feature_params[n]) for n in features}
    segment_dict = as_dict(segment)
    data_root = str(Path(data).resolve())

    store.mkdir(parents=True, exist_ok=True)
    partial = store / PARTIAL
    old = None if rebuild else _read_manifest(store)
    if rebuild and partial.exists():
        shutil.rmtree(partial)
    if old:
        _check_compatible(old, data_root, segment_dict, requested)
    all_features = {**({n: f["params"] for n, f in old["features"].items()} if old else {}), **requested}
    old_clips = old["clips"] if old else {}
    old_skipped = {s["fingerprint"]["path"]: s for s in old.get("skipped", [])} if old else {}

    # An interrupted run with other parameters cannot be resumed: its shards are stale.
    plan = {"data": data_root, "segment_params": segment_dict, "features": all_features}
    plan_path = partial / "plan.json"
    if partial.exists() and (not plan_path.exists() or json.loads(plan_path.read_text()) != plan):
        events.warn(f"{partial}: discarding an interrupted extraction made with other parameters")
        shutil.rmtree(partial)
    partial.mkdir(exist_ok=True)
    write_atomic(plan_path, json.dumps(plan, indent=1))

    todo: list[tuple[Clip, dict, list[str]]] = []
    skipped: list[dict] = []
    resumed = 0
    # Stat each file once: consolidation must decide "kept or re-extracted" exactly as planned here.
    fingerprints = {clip.clip_id: _fingerprint(clip) for clip in dataset.clips}
    for clip in dataset.clips:
        fp = fingerprints[clip.clip_id]
        kept = old_clips.get(clip.clip_id)
        needed = [n for n in all_features if not (kept and kept["fingerprint"] == fp and n in old["features"])]
        if not needed:
            continue
        if fp["path"] in old_skipped and old_skipped[fp["path"]]["fingerprint"] == fp:
            skipped.append(old_skipped[fp["path"]])  # same bad file as last time: do not retry
            continue
        shard = partial / f"{clip.clip_id}.npz"
        if shard.exists():
            with np.load(shard) as z:
                if json.loads(str(z["fingerprint"])) == fp and all(n in z.files for n in needed):
                    resumed += 1
                    continue
        todo.append((clip, fp, needed))

    dataset_ids = {c.clip_id for c in dataset.clips}
    removed = sorted(set(old_clips) - dataset_ids)
    new_features = [n for n in all_features if not old or n not in old["features"]]
    if old and not (todo or resumed or removed or new_features) and len(skipped) == len(old["skipped"]):
        shutil.rmtree(partial)
        return _result(store, old, 0, 0, [s["message"] for s in skipped], started, {}, 0.0, 0, up_to_date=True)
    if resumed:
        events.info(f"resuming: {resumed} clips already extracted by an interrupted run")
    if removed:
        events.info(f"{len(removed)} clips no longer in {data} are dropped from the store")

    extractors = {}
    for name in sorted({n for _, _, needed in todo for n in needed}, key=list(all_features).index):
        events.info(f"loading {get_feature(name).description} extractor")
        extractors[name] = get_feature(name).make_extractor(feature_params[name])

    timing = {"decode": 0.0, **{n: 0.0 for n in extractors}}
    segments_extracted = 0
    events.start(len(todo))
    pending: list[_Decoded] = []

    def flush():
        nonlocal segments_extracted
        for item in _featurize(pending, extractors, timing):
            if item.error:
                skipped.append({"clip_id": item.clip.clip_id, "fingerprint": item.fingerprint, "message": item.error})
                events.clip_failed(item.clip, item.error)
                continue
            for note in item.notes:
                events.warn(f"{item.clip.path}: {note}")
            save_npz_atomic(partial / f"{item.clip.clip_id}.npz", fingerprint=json.dumps(item.fingerprint),
                            **item.arrays)
            segments_extracted += len(item.segments)
            events.clip_done(item.clip, len(item.segments))
        pending.clear()

    for item in _decode_ahead(todo, segment, workers, timing):
        pending.append(item)
        if sum(len(p.segments) for p in pending if not p.error) >= batch_size:
            flush()
    flush()

    manifest = _consolidate(store, old, dataset.clips, fingerprints, all_features, segment, data_root, skipped)
    shutil.rmtree(partial)
    return _result(store, manifest, len(todo) - len(skipped), resumed, [s["message"] for s in skipped], started,
                   {n: t for n, t in timing.items() if n != "decode"}, timing["decode"], segments_extracted,
                   up_to_date=False)


@dataclasses.dataclass
class _Decoded:
    clip: Clip
    fingerprint: dict
    needed: list[str]
    segments: np.ndarray | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None
    arrays: dict = dataclasses.field(default_factory=dict)


def _decode(job, segment: SegmentParams) -> _Decoded:
    clip, fp, needed = job
    item = _Decoded(clip, fp, needed)
    try:
        audio = load_audio(clip.path, segment.sample_rate, segment.max_seconds)
        item.segments, item.notes = split_segments(audio.samples, segment), audio.notes
    except AudioError as e:
        item.error = str(e)
    except Exception as e:  # one bad clip never stops a run over a thousand
        item.error = f"{clip.path}: failed ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})"
    return item


def _decode_ahead(todo, segment: SegmentParams, workers: int, timing: dict) -> Iterator[_Decoded]:
    """Decoded clips in order, decoded by `workers` threads (libsndfile and soxr release the GIL)
    a few clips ahead of the consumer: memory stays bounded whatever the dataset size."""
    ahead = max(4, 2 * workers)
    jobs = iter(todo)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        queue = deque(pool.submit(_decode, job, segment) for job in islice(jobs, ahead))
        while queue:
            t0 = time.perf_counter()
            item = queue.popleft().result()
            timing["decode"] += time.perf_counter() - t0  # time the consumer waited for decoding
            job = next(jobs, None)
            if job is not None:
                queue.append(pool.submit(_decode, job, segment))
            yield item


def _featurize(items: list[_Decoded], extractors: dict, timing: dict) -> list[_Decoded]:
    """Compute each feature for the segments of all clips that need it, in one batch per feature."""
    for name, extractor in extractors.items():
        members = [i for i in items if not i.error and name in i.needed]
        if not members:
            continue
        t0 = time.perf_counter()
        values = extractor(np.concatenate([i.segments for i in members])).astype(get_feature(name).dtype)
        timing[name] += time.perf_counter() - t0
        for item, rows in zip(members, np.split(values, np.cumsum([len(i.segments) for i in members])[:-1])):
            if np.isfinite(rows).all():
                item.arrays[name] = rows
            else:
                item.error = f"{item.clip.path}: {name} has non-finite values"
    return items


def _consolidate(store: Path, old: dict | None, clips: list[Clip], fingerprints: dict[str, dict],
                 features: dict[str, dict], segment: SegmentParams, data_root: str, skipped: list[dict]) -> dict:
    """Write a new generation of arrays from the old store's rows and the shards, then the manifest."""
    from numpy.lib.format import open_memmap

    partial = store / PARTIAL
    skipped_ids = {s["clip_id"] for s in skipped}
    old_arrays = {n: np.load(store / f["file"], mmap_mode="r") for n, f in old["features"].items()} if old else {}

    # Each usable clip's rows come from its shard where it has one for the feature, else from the old store.
    sources = []
    for clip in clips:
        if clip.clip_id in skipped_ids:
            continue
        fp = fingerprints[clip.clip_id]
        kept = old["clips"].get(clip.clip_id) if old else None
        kept = kept if kept and kept["fingerprint"] == fp else None
        shard = partial / f"{clip.clip_id}.npz"
        shard_features = set()
        if shard.exists():
            with np.load(shard) as z:
                shard_features = set(z.files) & set(features)
                count = len(z[next(iter(shard_features))])
        else:
            count = kept["count"]
        sources.append((clip, fp, kept, shard, shard_features, count))
    if not sources:
        raise StoreError(f"no usable clips in {data_root}: every clip was skipped")

    def clip_rows(name, kept, shard, shard_features):
        if name in shard_features:
            with np.load(shard) as z:
                return z[name]
        return old_arrays[name][kept["start"]:kept["start"] + kept["count"]]

    generation = (old["generation"] + 1) if old else 1
    total = sum(s[-1] for s in sources)
    files, shapes = {}, {}
    for name in features:
        shapes[name] = clip_rows(name, *sources[0][2:5]).shape[1:]
        files[name] = f"{name}.{generation}.npy"
        out = open_memmap(store / files[name], mode="w+", dtype=get_feature(name).dtype, shape=(total, *shapes[name]))
        row = 0
        for clip, fp, kept, shard, shard_features, count in sources:
            out[row:row + count] = clip_rows(name, kept, shard, shard_features)
            row += count
        out.flush()
        del out

    clip_table, ids, genres, numbers, row = {}, [], [], [], 0
    for clip, fp, kept, shard, shard_features, count in sources:
        clip_table[clip.clip_id] = {"genre": clip.genre, "fingerprint": fp, "start": row, "count": count}
        ids += [clip.clip_id] * count
        genres += [clip.genre] * count
        numbers += range(count)
        row += count
    index_file = f"segments.{generation}.csv"
    SegmentIndex(np.array(ids), np.array(genres), np.array(numbers)).write(store / index_file)

    manifest = {
        "format_version": FORMAT_VERSION,
        "generation": generation,
        "created": old["created"] if old else now_iso(),
        "updated": now_iso(),
        "data": data_root,
        "segment_params": as_dict(segment),
        "features": {n: {"params": features[n], "file": files[n], "shape": list(shapes[n]),
                         "dtype": get_feature(n).dtype} for n in features},
        "index_file": index_file,
        "clips": clip_table,
        "skipped": skipped,
        "library_versions": library_versions(),
    }
    write_atomic(store / MANIFEST, json.dumps(manifest, indent=1))
    # The new manifest is committed: the previous generation's files are garbage now.
    if old:
        for name in [f["file"] for f in old["features"].values()] + [old["index_file"]]:
            (store / name).unlink(missing_ok=True)
    return manifest


def _result(store, manifest, extracted, reused, skipped, started, feature_seconds, decode_seconds, segments_extracted,
            up_to_date) -> ExtractResult:
    return ExtractResult(store=store, clips=len(manifest["clips"]),
                         segments=sum(c["count"] for c in manifest["clips"].values()),
                         extracted=extracted, reused=reused, skipped=skipped,
                         shapes={n: tuple(f["shape"]) for n, f in manifest["features"].items()},
                         seconds=time.perf_counter() - started, feature_seconds=feature_seconds,
                         decode_seconds=decode_seconds, segments_extracted=segments_extracted, up_to_date=up_to_date)
