"""`genre-tf extract`: a folder of labelled clips -> a feature store, resumably.

Three steps: plan (what the store lacks, what an interrupted run already did), run (decode and
compute, one shard per finished clip) and commit (io/store.py consolidates the shards and the rows kept
from the previous store into a new generation). A run interrupted at any point resumes from its
shards; `genre-tf extract --store S` alone finishes it, with the data and features it remembers.

The run step goes through an engine (engines/): `local` (decoding threads feeding one extractor in
this process) or `ray` (decoding tasks and extractor actors on a Ray cluster). Planning, the shards
and the commit are the same for both, so they build the same store and resume each other's work.
"""
from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path

import numpy as np

from ..config import (
    DECODE_WORKERS,
    DEFAULT_DATA,
    DEFAULT_FEATURES,
    DEFAULT_STORE,
    ENGINES,
    EXTRACT_BATCH_SIZE,
    GENRES_LISTED,
    MAX_PROBLEMS_SHOWN,
    RayParams,
    SegmentParams,
    as_dict,
)
from ..core.errors import StoreError, first_line, listed, require, shown
from ..core.files import fingerprint
from ..engines import Engine, make_engine
from ..engines.base import audio_digest
from ..features import get_feature, make_extractor
from ..io.audio import load_audio, split_segments
from ..io.dataset import Clip
from ..io.labels import LabelSource, label_source, read_labelled
from ..io.store import Manifest, Plan, StoreWriter, extract_command, same_file, segment_folder
from .events import FileEvents


@dataclasses.dataclass
class ExtractResult:
    """What `extract` did, and the store it left.

    Attributes:
        store: the sub-store written: `<store>/<segment length>s`.
        clips: clips in the store now.
        segments: segments (rows) in the store now.
        extracted: clips decoded and featurized in this run (those that failed not counted).
        reused: clips an interrupted run had featurized already (its shards), not computed again.
        skipped: one line per clip left out: this run's failures, and bad files of earlier runs (not retried
            while unchanged).
        shapes: {feature name: the shape of one segment's values}.
        seconds: the whole call's wall time.
        compute_seconds: local engine: time computing features (all of them in one graph call); Ray engine:
            actor time, summed.
        decode_seconds: local engine: time the feature batches waited for the decoding threads; Ray engine:
            decoding-task time, summed.
        segments_extracted: segments featurized in this run.
        up_to_date: the store already held everything asked for: nothing was computed or written.
        engine: the engine's name: local or ray.
    """

    store: Path
    clips: int
    segments: int
    extracted: int  # clips decoded in this run
    reused: int  # clips whose features came from an interrupted run's shards
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
    changed: bool  # anything to commit: clips to extract or drop, features to add, new bad files, new labels
    splits: dict[str, str]  # clip id -> train|valid|test, where the labels say
    relabelled: int  # clips kept whose label or split changed


def extract(data: str | Path | None = None, store: str | Path = DEFAULT_STORE, features: list[str] | None = None,
            segment: SegmentParams = SegmentParams(), feature_params: dict[str, object] | None = None,
            rebuild: bool = False, events: FileEvents = FileEvents(), batch_size: int = EXTRACT_BATCH_SIZE,
            workers: int = DECODE_WORKERS, engine: str = ENGINES[0], ray: RayParams = RayParams(),
            labels: LabelSource | str | None = None) -> ExtractResult:
    """Bring the store of `segment`'s length up to date with the clips under `data`. `data`, `features`,
    feature parameters and `labels` not given come from the store's interrupted run, else from the store.
    `labels`: where the genres come from (io/labels.py: "fma", "tags", a labels CSV, or a LabelSource;
    default genre folders). `engine` "ray" computes on a Ray cluster (`ray`: which, and how); `workers`
    is the local engine's.

    Only what the store lacks is computed: new or changed clips, and features it does not hold; relabelled
    clips keep their features. An interrupted call resumes from the clips it finished. A bad clip is skipped,
    one line, and the rest go on.

    Args:
        data: the folder of labelled clips (`<genre>/<clip>` for genre folders); None: the interrupted run's,
            else the store's, else data/music.
        store: the store folder; the sub-store of `segment`'s length is the one brought up to date.
        features: feature names (`FEATURES`); None: the interrupted run's, else the store's, else embedding,
            logmel and mfcc. Features the store holds that are not named are kept.
        segment: how clips become segments (`segment_params`).
        feature_params: {feature name: its parameter dataclass} for features not computed with their
            defaults; a feature not here keeps the parameters it was extracted with, else its defaults.
        rebuild: discard the store's rows and any interrupted run, and compute everything again.
        events: told of progress and of each problem; silent by default.
        batch_size: segments per feature batch.
        workers: the local engine's decoding threads.
        engine: "local" (this process) or "ray" (a Ray cluster).
        ray: the Ray engine's cluster and actors.
        labels: where the genres come from: "folders", "fma", "tags", a labels CSV's path (as `label_source`
            takes them) or a `LabelSource`; None: the store's source, else genre folders.

    Returns:
        What was done: clips and segments in the store, extracted, reused and skipped, and the time taken.

    Raises:
        GenreTfError: a bad argument (`batch_size`, `engine`, `workers`, `labels`).
        DatasetError: the data folder or its labels cannot be read, or hold no usable clip.
        StoreError: the store holds other data, segment or feature parameters or another kind of labels than
            asked for (use `rebuild` or another store); an interrupted extraction asked for something else;
            another extraction is writing the store; every clip was skipped; the disk is full.
        ModelUnavailableError: a feature's network (YAMNet, musicnn) cannot be loaded.
    """
    require(batch_size >= 1, f"`batch_size` must be at least 1, not {batch_size}")
    if isinstance(labels, str):
        labels = label_source(labels, data)
    runner = make_engine(engine, workers, ray)
    started = time.perf_counter()
    with StoreWriter(segment_folder(store, segment.segment_seconds)) as writer:
        if rebuild:
            writer.discard_partial()
        old = None if rebuild else writer.manifest()
        plan = _plan(writer.plan(), old, data, features, segment, feature_params or {}, labels,
                     extract_command(store, segment.segment_seconds))
        work = _find_work(writer, old, plan, events)
        if old and not work.changed:
            writer.discard_partial()
            return _result(writer.root, old, work, started, {}, up_to_date=True, engine=runner.name)
        writer.start(plan)
        try:
            timing = _run(runner, writer, plan, segment, work, events, batch_size)
        except BaseException:
            if not writer.has_shards():  # failed before any clip was saved (a mistyped model): nothing to finish,
                writer.discard_partial()  # so no plan is left to refuse the corrected command
            raise
        manifest = writer.commit(old, [(c.clip_id, c.genre, work.fingerprints[c.clip_id], work.splits.get(c.clip_id))
                                       for c in work.clips], plan,
                                 {n: get_feature(n).dtype for n in plan.features}, work.skipped)
    return _result(writer.root, manifest, work, started, timing, up_to_date=False, engine=runner.name)


def _plan(interrupted: Plan | None, old: Manifest | None, data, features, segment: SegmentParams,
          feature_params: dict, labels: LabelSource | None, command: str) -> Plan:
    """The extraction to do: what was asked, completed from the interrupted run, the store and the
    defaults, in that order. An interrupted run that asked for something else is never overwritten."""
    remembered = interrupted or old
    data = str(Path(data or (remembered.data if remembered else DEFAULT_DATA)).resolve())
    labels = (labels or LabelSource.of_record(remembered.labels if remembered else None)).record()
    names = list(features or (interrupted.features if interrupted else old.features if old else DEFAULT_FEATURES))
    stored = {n: e.params for n, e in old.features.items()} if old else {}
    earlier = {**stored, **(interrupted.features if interrupted else {})}
    requested = {n: as_dict(feature_params[n]) if n in feature_params
                 else earlier.get(n) or as_dict(get_feature(n).default_params()) for n in names}
    plan = Plan(data, as_dict(segment), {**stored, **requested}, labels)
    if interrupted and (interrupted.data, interrupted.segment_params, LabelSource.of_record(interrupted.labels),
                        interrupted.features) != (plan.data, plan.segment_params, LabelSource.of_record(labels),
                                                  {**interrupted.features, **requested}):
        raise StoreError(f"an interrupted extraction of {interrupted.data} ({', '.join(interrupted.features)}, "
                         f"max {interrupted.segment_params['max_seconds']:g} s) is unfinished in this store and "
                         f"asked for something else; finish it with `{command}`, or discard it with `rebuild`")
    if old:
        _check_compatible(old, plan)
    return Plan(data, plan.segment_params, {**(interrupted.features if interrupted else {}), **plan.features}, labels)


def _check_compatible(old: Manifest, plan: Plan) -> None:
    hint = "use `rebuild` to recompute everything, or another `store`"
    if old.data != plan.data:
        raise StoreError(f"store was built from {old.data}, not {plan.data}; {hint}")
    if old.segment_params != plan.segment_params:
        changed = [f"{k}: {old.segment_params.get(k)} -> {v}" for k, v in plan.segment_params.items()
                   if old.segment_params.get(k) != v]
        raise StoreError(f"segment parameters differ from the store's ({', '.join(changed)}); {hint}")
    for name, params in plan.features.items():
        if name in old.features and old.features[name].params != params:
            raise StoreError(f"'{name}' was extracted with other parameters ({old.features[name].params}); {hint}")
    was, asked = LabelSource.of_record(old.labels).kind, LabelSource.of_record(plan.labels).kind
    if was != asked:
        raise StoreError(f"the store's labels come from {was}, not {asked}; {hint}")


def _fingerprint(clip: Clip) -> dict:
    """The file's fingerprint and where it is (`same_file`: a clip whose file changes is extracted again)."""
    return {"path": str(clip.path.resolve()), **fingerprint(clip.path)}


def _same_audio(old: dict, new: dict, segment: SegmentParams) -> bool:
    """Whether a file whose bytes changed (a retagged song) still decodes to the audio it was extracted
    from (fingerprints `old` and `new`): decoded again (cheap, beside its features), compared by digest."""
    if not old.get("audio") or old.get("path") != new["path"]:
        return False
    try:
        return audio_digest(_segments(new["path"], segment)[1]) == old["audio"]
    except Exception:  # an unreadable file now: extracting it says why
        return False


def _find_work(writer: StoreWriter, old: Manifest | None, plan: Plan, events: FileEvents) -> _Work:
    source = LabelSource.of_record(plan.labels)
    dataset = read_labelled(plan.data, source)
    _report_problems(writer, dataset.problems, events)
    labels = "" if source == LabelSource() else f" (labels: {source.describe()})"
    counts = [f"{shown(g, 60)} {n}" for g, n in dataset.counts().items()]
    events.info(f"{len(dataset.clips)} clips in {len(dataset.genres)} genres{labels}: {listed(counts, GENRES_LISTED)}")
    if len(dataset.genres) < 2:
        events.warn(f"only one genre ({dataset.genres[0]}): training needs clips of at least two genres")
    # Stat each file once: the commit must decide "kept or re-extracted" exactly as planned here.
    clips, fingerprints = [], {}
    for clip in dataset.clips:
        try:
            fingerprints[clip.clip_id] = _fingerprint(clip)
            clips.append(clip)
        except OSError as e:  # gone or unreadable since discovery
            events.warn(f"{clip.path}: skipped, cannot be read ({first_line(e)})")
    old_skipped = {s["fingerprint"]["path"]: s for s in old.skipped} if old else {}
    todo, skipped, resumed, relabelled = [], [], 0, 0
    segment = SegmentParams(**plan.segment_params)
    for clip in clips:
        fp = fingerprints[clip.clip_id]
        kept = old.clips.get(clip.clip_id) if old else None
        if kept and (same_file(kept.fingerprint, fp) or _same_audio(kept.fingerprint, fp, segment)):
            fp["audio"] = kept.fingerprint.get("audio")  # carried on, for the next change of this file
        else:
            kept = None
        relabelled += bool(kept) and (kept.genre, kept.split) != (clip.genre, dataset.splits.get(clip.clip_id))
        needed = [n for n in plan.features if not (kept and n in old.features)]
        if not needed:
            continue
        if fp["path"] in old_skipped and same_file(old_skipped[fp["path"]]["fingerprint"], fp):
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
        events.info(f"{len(removed)} clips are no longer in the dataset (gone from {plan.data}, or no longer "
                    "labelled) and are dropped from the store")
    if relabelled:
        events.info(f"{relabelled} clips relabelled: the index changes, their features are kept")
    changed = bool(todo or resumed or removed or new_features or relabelled) \
        or len(skipped) != len(old.skipped if old else []) \
        or bool(old and LabelSource.of_record(old.labels) != source)
    return _Work(clips, fingerprints, todo, skipped, resumed, changed, dataset.splits, relabelled)


def _report_problems(writer: StoreWriter, problems: list[str], events: FileEvents) -> None:
    """The first MAX_PROBLEMS_SHOWN lines about files passed over; past them a count, and the whole list
    in the store's problems file."""
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        events.warn(problem)
    path = writer.record_problems(problems if len(problems) > MAX_PROBLEMS_SHOWN else [])
    if len(problems) > MAX_PROBLEMS_SHOWN:
        events.warn(f"… and {len(problems) - MAX_PROBLEMS_SHOWN:,} more lines about files passed over; all "
                    f"{len(problems):,} are in {path}")


@dataclasses.dataclass
class _Extracted:
    clip: Clip
    fingerprint: dict
    needed: list[str]
    notes: list[str]
    error: str | None
    arrays: dict = dataclasses.field(default_factory=dict)

    def keep(self, values: dict[str, np.ndarray]) -> None:
        """The features this clip needs, from those computed for it; non-finite values fail the clip."""
        for name in self.needed:
            if not np.isfinite(values[name]).all():
                self.error = f"{self.clip.path}: {name} has non-finite values"
                return
            self.arrays[name] = values[name]


def _extractor_params(plan: Plan, work: _Work, events: FileEvents) -> dict[str, object]:
    """{feature: parameters} of the features some clip to do needs: what the extractor computes."""
    names = [n for n in plan.features if any(n in needed for _, _, needed in work.todo)]
    if names:
        events.info(f"loading the extractor of {', '.join(get_feature(n).description for n in names)}")
    return {n: get_feature(n).params_class(**plan.features[n]) for n in names}


def _segments(path: str, segment: SegmentParams) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A clip's segment starts (seconds), its segments, and its notes; raises AudioError for a bad file."""
    audio = load_audio(path, segment.sample_rate, segment.max_seconds)
    segments = split_segments(audio.samples, segment)
    return np.arange(len(segments)) * segment.hop_seconds, segments, audio.notes


def _warm_extractor(params: dict[str, object], samples: int):
    """The extractor, its graph traced for segments of `samples` (so that the first batch does not wait for it)."""
    extractor = make_extractor(params)
    extractor.warm_up(samples)
    return extractor


def _run(engine: Engine, writer: StoreWriter, plan: Plan, segment: SegmentParams, work: _Work, events: FileEvents,
         batch_size: int) -> dict[str, float]:
    """Decode and featurize every clip to do through `engine`, in batches of `batch_size` segments; save
    each finished clip as a shard. Returns seconds spent computing and decoding, and segments made."""
    timing = {"decode": 0.0, "compute": 0.0, "segments": 0}
    compute = functools.partial(_warm_extractor, _extractor_params(plan, work, events), segment.segment_samples)
    with engine.map_windows([str(clip.path) for clip, _, _ in work.todo], functools.partial(_segments, segment=segment),
                            compute, batch_size, segment.segment_samples, events.info) as finished:
        events.start(len(work.todo))
        for done in finished:
            clip, fp, needed = work.todo[done.item]
            fp["audio"] = done.digest  # the same dict as work.fingerprints': the commit records it
            item = _Extracted(clip, fp, needed, notes=done.notes, error=done.error)
            if not item.error:
                item.keep(done.arrays)
            timing["compute"] += done.compute_seconds
            timing["decode"] += done.decode_seconds
            _save(writer, item, work, events, timing)
    return timing


def _save(writer: StoreWriter, item: _Extracted, work: _Work, events: FileEvents, timing: dict) -> None:
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
