"""`genre-tf extract`: a folder of labelled clips -> a feature store, resumably.

Three steps: plan (what the store lacks, what an interrupted run already did), run (decode and
compute, one shard per finished clip) and commit (store.py consolidates the shards and the rows kept
from the previous store into a new generation). A run interrupted at any point resumes from its
shards; `genre-tf extract --store S` alone finishes it, with the data and features it remembers.

The run step has two engines: `local` (decoding threads feeding one extractor in this process) and
`ray` (distributed.py: decoding tasks and extractor actors on a Ray cluster). Planning, the shards
and the commit are the same for both, so they build the same store and resume each other's work.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from itertools import chain, islice
from pathlib import Path
from typing import Iterator

import numpy as np

from .audio import load_audio, split_segments
from .dataset import Clip, discover
from .errors import StoreError, file_failure, first_line, require
from .features import DEFAULT_FEATURES, get_feature, make_extractor
from .params import ENGINES, RayParams, SegmentParams, as_dict
from .store import Manifest, Plan, StoreWriter, extract_command, segment_folder

DEFAULT_DATA = "data/music"
DEFAULT_BATCH_SIZE = 64
DEFAULT_WORKERS = 2
MAX_CLIPS_AHEAD = 64  # decoded clips waiting at most, however short they are


class ExtractEvents:
    """What a pass over many audio files (extraction, labelling a library) tells its caller; the CLI
    shows it, the library stays silent by default."""

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
    # Local engine: time computing features (all of them in one graph call), and time the feature
    # batches waited for the decoding threads. Ray engine: actor time and decoding-task time, summed.
    compute_seconds: float
    decode_seconds: float
    segments_extracted: int
    up_to_date: bool
    engine: str


@dataclasses.dataclass
class _Work:
    """What this run must do to bring the store up to date with the plan."""

    clips: list[Clip]  # every clip of the dataset, in store order
    fingerprints: dict[str, dict]
    todo: list[tuple[Clip, dict, list[str]]]  # clip, fingerprint, features it needs
    skipped: list[dict]
    resumed: int
    changed: bool  # anything to commit: clips to extract or drop, features to add, new bad files


def extract(data: str | Path | None = None, store: str | Path = "features", features: list[str] | None = None,
            segment: SegmentParams = SegmentParams(), feature_params: dict[str, object] | None = None,
            rebuild: bool = False, events: ExtractEvents = ExtractEvents(), batch_size: int = DEFAULT_BATCH_SIZE,
            workers: int = DEFAULT_WORKERS, engine: str = "local", ray: RayParams = RayParams()) -> ExtractResult:
    """Bring the store of `segment`'s length up to date with the clips under `data`. `data`, `features`
    and feature parameters not given come from the store's interrupted run, else from the store.
    `engine` "ray" computes on a Ray cluster (`ray`: which, and how); `workers` is the local engine's."""
    require(batch_size >= 1, f"--batch-size must be at least 1, not {batch_size}")
    require(workers >= 1, f"--workers must be at least 1, not {workers}")
    require(engine in ENGINES, f"--engine must be {' or '.join(ENGINES)}, not '{engine}'")
    require(segment.max_seconds > 0, f"--max-seconds must be positive, not {segment.max_seconds:g}")
    started = time.perf_counter()
    with StoreWriter(segment_folder(store, segment.segment_seconds)) as writer:
        if rebuild:
            writer.discard_partial()
        old = None if rebuild else writer.manifest()
        plan = _plan(writer.plan(), old, data, features, segment, feature_params or {},
                     extract_command(store, segment.segment_seconds))
        work = _find_work(writer, old, plan, events)
        if old and not work.changed:
            writer.discard_partial()
            return _result(writer.root, old, work, started, {}, up_to_date=True, engine=engine)
        writer.start(plan)
        run = functools.partial(_run, workers=workers) if engine == "local" else functools.partial(_run_on_ray, ray=ray)
        timing = run(writer, plan, segment, work, events, batch_size)
        manifest = writer.commit(old, [(c.clip_id, c.genre, work.fingerprints[c.clip_id]) for c in work.clips], plan,
                                 {n: get_feature(n).dtype for n in plan.features}, work.skipped)
    return _result(writer.root, manifest, work, started, timing, up_to_date=False, engine=engine)


def _plan(interrupted: Plan | None, old: Manifest | None, data, features, segment: SegmentParams,
          feature_params: dict, command: str) -> Plan:
    """The extraction to do: what was asked, completed from the interrupted run, the store and the
    defaults, in that order. An interrupted run that asked for something else is never overwritten."""
    remembered = interrupted or old
    data = str(Path(data or (remembered.data if remembered else DEFAULT_DATA)).resolve())
    names = list(features or (interrupted.features if interrupted else old.features if old else DEFAULT_FEATURES))
    stored = {n: e.params for n, e in old.features.items()} if old else {}
    earlier = {**stored, **(interrupted.features if interrupted else {})}
    requested = {n: as_dict(feature_params[n]) if n in feature_params
                 else earlier.get(n) or as_dict(get_feature(n).default_params()) for n in names}
    plan = Plan(data, as_dict(segment), {**stored, **requested})
    if interrupted and interrupted != Plan(plan.data, plan.segment_params, {**interrupted.features, **requested}):
        raise StoreError(f"an interrupted extraction of {interrupted.data} ({', '.join(interrupted.features)}, "
                         f"max {interrupted.segment_params['max_seconds']:g} s) is unfinished in this store and "
                         f"asked for something else; finish it with `{command}`, or discard it with --rebuild")
    if old:
        _check_compatible(old, plan)
    return Plan(data, plan.segment_params, {**(interrupted.features if interrupted else {}), **plan.features})


def _check_compatible(old: Manifest, plan: Plan) -> None:
    hint = "use --rebuild to recompute everything, or another --store"
    if old.data != plan.data:
        raise StoreError(f"store was built from {old.data}, not {plan.data}; {hint}")
    if old.segment_params != plan.segment_params:
        changed = [f"{k}: {old.segment_params.get(k)} -> {v}" for k, v in plan.segment_params.items()
                   if old.segment_params.get(k) != v]
        raise StoreError(f"segment parameters differ from the store's ({', '.join(changed)}); {hint}")
    for name, params in plan.features.items():
        if name in old.features and old.features[name].params != params:
            raise StoreError(f"'{name}' was extracted with other parameters ({old.features[name].params}); {hint}")


def _fingerprint(clip: Clip) -> dict:
    st = clip.path.stat()
    return {"path": str(clip.path.resolve()), "genre": clip.genre, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _find_work(writer: StoreWriter, old: Manifest | None, plan: Plan, events: ExtractEvents) -> _Work:
    dataset = discover(plan.data)
    for problem in dataset.problems:
        events.warn(problem)
    events.info(f"{len(dataset.clips)} clips in {len(dataset.genres)} genres: "
                + ", ".join(f"{g} {n}" for g, n in dataset.counts().items()))
    # Stat each file once: the commit must decide "kept or re-extracted" exactly as planned here.
    clips, fingerprints = [], {}
    for clip in dataset.clips:
        try:
            fingerprints[clip.clip_id] = _fingerprint(clip)
            clips.append(clip)
        except OSError as e:  # gone or unreadable since discovery
            events.warn(f"{clip.path}: skipped, cannot be read ({first_line(e)})")
    old_skipped = {s["fingerprint"]["path"]: s for s in old.skipped} if old else {}
    todo, skipped, resumed = [], [], 0
    for clip in clips:
        fp = fingerprints[clip.clip_id]
        kept = old.clips.get(clip.clip_id) if old else None
        needed = [n for n in plan.features if not (kept and kept.fingerprint == fp and n in old.features)]
        if not needed:
            continue
        if fp["path"] in old_skipped and old_skipped[fp["path"]]["fingerprint"] == fp:
            skipped.append(old_skipped[fp["path"]])  # same bad file as last time: do not retry
        elif set(needed) <= writer.shard_features(clip.clip_id, fp):
            resumed += 1
        else:
            todo.append((clip, fp, needed))
    removed = set(old.clips) - set(fingerprints) if old else set()
    new_features = [n for n in plan.features if not old or n not in old.features]
    if resumed:
        events.info(f"resuming: {resumed} clips already extracted by an interrupted run")
    if removed:
        events.info(f"{len(removed)} clips no longer in {plan.data} are dropped from the store")
    changed = bool(todo or resumed or removed or new_features) or len(skipped) != len(old.skipped if old else [])
    return _Work(clips, fingerprints, todo, skipped, resumed, changed)


@dataclasses.dataclass
class _Decoded:
    clip: Clip
    fingerprint: dict
    needed: list[str]
    segments: np.ndarray | None = None  # the local engine's decoded audio, until its features are computed
    notes: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None
    arrays: dict = dataclasses.field(default_factory=dict)

    def keep(self, values: dict[str, np.ndarray]) -> None:
        """The features this clip needs, from those computed for it; non-finite values fail the clip."""
        for name in self.needed:
            if not np.isfinite(values[name]).all():
                self.error = f"{self.clip.path}: {name} has non-finite values"
                return
            self.arrays[name] = values[name]


def _extractor_params(plan: Plan, work: _Work, events: ExtractEvents) -> dict[str, object]:
    """{feature: parameters} of the features some clip to do needs: what the extractor computes."""
    names = [n for n in plan.features if any(n in needed for _, _, needed in work.todo)]
    if names:
        events.info(f"loading the extractor of {', '.join(get_feature(n).description for n in names)}")
    return {n: get_feature(n).params_class(**plan.features[n]) for n in names}


def _segments(path: str, segment: SegmentParams) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A clip's segment starts (seconds), its segments, and its notes; raises AudioError for a bad file."""
    audio = load_audio(path, segment.sample_rate, segment.max_seconds)
    segments = split_segments(audio.samples, segment)
    return np.arange(len(segments)) * segment.segment_seconds, segments, audio.notes


def _run(writer: StoreWriter, plan: Plan, segment: SegmentParams, work: _Work, events: ExtractEvents,
         batch_size: int, workers: int) -> dict[str, float]:
    """Decode and featurize every clip to do, in batches of about `batch_size` segments; save each
    finished clip as a shard. Returns seconds spent computing, and waiting for decoding."""
    extractor = make_extractor(_extractor_params(plan, work, events))
    extractor.warm_up(segment.segment_samples)
    timing = {"decode": 0.0, "compute": 0.0, "segments": 0}
    events.start(len(work.todo))
    pending: list[_Decoded] = []
    # Streamed (never a list): decoding stays ahead and memory stays bounded; None flushes.
    for item in chain(_decode_ahead(work.todo, segment, workers, batch_size, timing), [None]):
        if item is not None:
            pending.append(item)
        if item is None or sum(len(p.segments) for p in pending if not p.error) >= batch_size:
            for done in _featurize(pending, extractor, timing):
                _save(writer, done, work, events, timing)
            pending.clear()
    return timing


def _run_on_ray(writer: StoreWriter, plan: Plan, segment: SegmentParams, work: _Work, events: ExtractEvents,
                batch_size: int, ray: RayParams) -> dict[str, float]:
    """The same work on Ray: clips decoded by tasks, featurized by extractor actors in batches of
    `batch_size` segments; the shards are saved here, as each clip comes back."""
    from .distributed import map_windows

    compute = functools.partial(make_extractor, _extractor_params(plan, work, events))
    timing = {"decode": 0.0, "compute": 0.0, "segments": 0}
    with map_windows([str(clip.path) for clip, _, _ in work.todo], functools.partial(_segments, segment=segment),
                     compute, batch_size, segment.segment_samples, ray, events.info) as finished:
        events.start(len(work.todo))
        for done in finished:
            item = _Decoded(*work.todo[done.item], notes=done.notes, error=done.error)
            if not item.error:
                item.keep(done.arrays)
            timing["compute"] += done.compute_seconds
            timing["decode"] += done.decode_seconds
            _save(writer, item, work, events, timing)
    return timing


def _save(writer: StoreWriter, item: _Decoded, work: _Work, events: ExtractEvents, timing: dict) -> None:
    if item.error:
        work.skipped.append({"clip_id": item.clip.clip_id, "fingerprint": item.fingerprint, "message": item.error})
        events.clip_failed(item.clip, item.error)
        return
    for note in item.notes:
        events.warn(f"{item.clip.path}: {note}")
    writer.save_shard(item.clip.clip_id, item.fingerprint, item.arrays)
    count = len(next(iter(item.arrays.values())))
    timing["segments"] += count
    events.clip_done(item.clip, count)


def _decode(job, segment: SegmentParams) -> _Decoded:
    clip, fp, needed = job
    item = _Decoded(clip, fp, needed)
    try:
        _, item.segments, item.notes = _segments(clip.path, segment)
    except Exception as e:  # one bad clip never stops a run over a thousand
        item.error = file_failure(clip.path, e)
    return item


def _decode_ahead(todo, segment: SegmentParams, workers: int, batch_size: int, timing: dict) -> Iterator[_Decoded]:
    """Decoded clips in order, decoded by `workers` threads (libsndfile and soxr release the GIL) ahead
    of the consumer: about two feature batches' worth of clips, so that the next batch is decoded while
    the current one is computed, and memory stays bounded whatever the dataset size."""
    jobs = iter(todo)
    decoded_clips, decoded_segments = 0, 0
    with ThreadPoolExecutor(workers) as pool:
        queue = deque(pool.submit(_decode, job, segment) for job in islice(jobs, 2 * workers))
        while queue:
            t0 = time.perf_counter()
            item = queue.popleft().result()
            timing["decode"] += time.perf_counter() - t0  # time the consumer waited for decoding
            decoded_clips += 1
            decoded_segments += 0 if item.error else len(item.segments)
            per_clip = max(1.0, decoded_segments / decoded_clips)
            ahead = min(MAX_CLIPS_AHEAD, max(2 * workers, math.ceil(2 * batch_size / per_clip)))
            for job in islice(jobs, max(0, ahead - len(queue))):
                queue.append(pool.submit(_decode, job, segment))
            yield item


def _featurize(items: list[_Decoded], extractor, timing: dict) -> list[_Decoded]:
    """Compute the features of all segments of the clips in one batch; keep those each clip needs."""
    members = [i for i in items if not i.error]
    if not members:
        return items
    t0 = time.perf_counter()
    values = extractor(np.concatenate([i.segments for i in members]))
    timing["compute"] += time.perf_counter() - t0
    bounds = np.cumsum([len(i.segments) for i in members])[:-1]
    split = {name: np.split(array, bounds) for name, array in values.items()}
    for k, item in enumerate(members):
        item.keep({name: parts[k] for name, parts in split.items()})
    return items


def _result(root: Path, manifest: Manifest, work: _Work, started: float, timing: dict, up_to_date: bool,
            engine: str) -> ExtractResult:
    attempted = {clip.clip_id for clip, _, _ in work.todo}
    new_failures = sum(1 for s in work.skipped if s["clip_id"] in attempted)
    return ExtractResult(store=root, clips=len(manifest.clips), segments=manifest.segments,
                         extracted=0 if up_to_date else len(work.todo) - new_failures, reused=work.resumed,
                         skipped=[s["message"] for s in work.skipped],
                         shapes={n: tuple(f.shape) for n, f in manifest.features.items()},
                         seconds=time.perf_counter() - started,
                         compute_seconds=timing.get("compute", 0.0),
                         decode_seconds=timing.get("decode", 0.0), segments_extracted=timing.get("segments", 0),
                         up_to_date=up_to_date, engine=engine)
