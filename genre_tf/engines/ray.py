"""The Ray engine: the same interface as the local one (base.py), on a Ray cluster.

One streamed Ray Data pipeline serves every caller. The driver lists the audio files; CPU tasks decode them
into fixed-length windows; actors, each holding its model once (the feature extractor, or a trained
run), compute batches of windows, on a GPU where they have one; the results stream back to the
driver, which writes them through the module that owns the file (the feature store's shards, the
prediction table's parts). So both engines make the same files, resume the same way and report a
bad file the same way: the file fails in its decoding task, and the others go on.

The same code runs on this machine (`ray.init()` starts a local Ray on its cores) and on a cluster
(`--ray-address`, or $RAY_ADDRESS). On a cluster every node needs genre-tf installed, and the audio,
the run and the model files at the same paths (a shared filesystem); only the driver writes.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Iterator

import numpy as np

from ..config import RayParams
from ..core.errors import GenreTfError, file_failure, first_line, require
from ..core.native import native_stderr_silenced
from .base import ComputeFactory, Decode, Finished, audio_digest

WAVEFORM = "waveform"
OUT = "out:"  # prefix of the columns an actor computes, apart from the bookkeeping ones

@contextlib.contextmanager
def connected(params: RayParams):
    """Ray, connected: to the caller's if it called `ray.init` already, else to `params.address` (or
    $RAY_ADDRESS, or a new local Ray, shut down afterwards)."""
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise GenreTfError(f"`engine` ray needs Ray: pip install 'genre-tf[ray]' ({e.name} is missing)") from None
    started = not ray.is_initialized()
    if started and params.address:
        _check_reachable(params.address)
    if started:
        # Ray's C++ core logs its notices to the terminal (one per Ray Data actor: ray-project/ray#53727);
        # errors still come back as exceptions. The one line saying it obeys the setting is dropped too.
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        try:
            with native_stderr_silenced():
                ray.init(address=params.address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as e:
            # A cluster from `ray start` asks for a token (Ray's default since 2.59), which a driver sends
            # only in token mode: the cluster then looks unreachable.
            hint = "" if os.environ.get("RAY_AUTH_MODE") else (
                "; if the cluster uses token authentication, set RAY_AUTH_MODE=token here (and its token: "
                "RAY_AUTH_TOKEN, or ~/.ray/auth_token)")
            raise GenreTfError(f"cannot connect to Ray at {params.address or 'the address in $RAY_ADDRESS'} "
                               f"({first_line(e)}){hint}; start a cluster with `ray start --head`, or leave "
                               "`ray_address` out for a local Ray") from None
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the caller shows its own, per file
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notices of each execution
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail at once, in one line, where nothing listens at `address` (Ray itself retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address in ("auto", "local") or not port.isdigit():
        return  # Ray's own words for "the cluster on this machine" and "a new one"; or not host:port
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as e:
        raise GenreTfError(f"cannot connect to Ray at {address} ({e.strerror or first_line(e)}); start a cluster "
                           "there with `ray start --head`, or leave `ray_address` out for a local Ray") from None


class RayEngine:
    name = "ray"

    def __init__(self, params: RayParams = RayParams()):
        self.params = params

    def map_windows(self, paths: list[str], decode: Decode, compute: ComputeFactory, batch_size: int, samples: int,
                    info: Callable[[str], None] = lambda message: None):
        """Files decoded by tasks, their windows computed by actors; given back in the order they finish."""
        return map_windows(paths, decode, compute, batch_size, samples, self.params, info)


@contextlib.contextmanager
def map_windows(paths: list[str], decode: Decode, compute: ComputeFactory, batch_size: int, samples: int,
                params: RayParams, info: Callable[[str], None] = lambda message: None) -> Iterator[Iterator[Finished]]:
    """`with map_windows(...) as finished:` every path through decode (tasks) and compute (actors,
    batches of `batch_size` windows), in the order files finish. Connected (and the actors placed) on
    entering, so that a cluster that cannot be used fails before any work; stopped on leaving, however
    the block ends. `samples`: the window length, for the placeholder row of a failed file."""
    if not paths:
        yield iter(())  # nothing to do: no cluster to start
        return
    with connected(params) as ray:
        actors, resources = _placement(ray, params)
        cluster = ray.cluster_resources()
        info(f"Ray: {actors} model actor{'s' * (actors > 1)} "
             f"({_describe(resources['num_cpus'], resources.get('num_gpus', 0))} each) "
             f"on a cluster of {_describe(cluster.get('CPU', 0), cluster.get('GPU', 0))}")
        blocks = max(1, math.ceil(len(paths) / params.files_per_task))
        items = [{"item": i, "path": p} for i, p in enumerate(paths)]
        pipeline = (ray.data.from_items(items, override_num_blocks=blocks)
                    .flat_map(functools.partial(_decode_rows, decode=decode, samples=samples))
                    .map_batches(_Computer, fn_constructor_args=(compute,), batch_size=batch_size,
                                 batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors), **resources))
        batches = iter(pipeline.iter_batches(batch_size=None, batch_format="numpy"))
        try:
            yield _gather(batches)
        finally:
            close = getattr(batches, "close", None)
            if close:
                close()  # an interrupted consumer stops the pipeline's tasks and actors


def _placement(ray, params: RayParams) -> tuple[int, dict]:
    """How many actors, and what each reserves. With GPUs (where the cluster has some, or
    `params.gpus`): one GPU each. Without: one actor per node, reserving half the CPUs of the smallest
    node, so that no two share a node (TF in an actor uses all its node's cores) and the other half
    decode. Refused where the actors would leave no CPU to decode with (the pipeline would wait forever)."""
    cluster = ray.cluster_resources()
    cluster_cpus, cluster_gpus = cluster.get("CPU", 0), cluster.get("GPU", 0)
    gpus = params.gpus if params.gpus is not None else (1.0 if cluster_gpus >= 1 else 0.0)
    require(gpus <= cluster_gpus, f"`ray_gpus` {gpus:g}: the Ray cluster has {cluster_gpus:g} GPUs")
    if gpus:
        actors, resources = params.actors or max(1, int(cluster_gpus // gpus)), {"num_cpus": 1, "num_gpus": gpus}
        require(actors * gpus <= cluster_gpus, f"`ray_actors` {actors} with `ray_gpus` {gpus:g}: the Ray cluster "
                                               f"has {cluster_gpus:g} GPUs")
    else:
        nodes = [node["Resources"].get("CPU", 0) for node in ray.nodes() if node.get("Alive")]
        actors, resources = params.actors or max(1, len(nodes)), {"num_cpus": max(1, int(min(nodes, default=2) // 2))}
    require(actors * resources["num_cpus"] < cluster_cpus,
            f"`ray_actors` {actors}: each reserves {resources['num_cpus']:g} of the Ray cluster's {cluster_cpus:g} "
            "CPUs, and none would be left to decode audio")
    return actors, resources


def _describe(cpus: float, gpus: float) -> str:
    return f"{cpus:g} CPU" + (f", {gpus:g} GPU" if gpus else "")


def _decode_rows(row: dict, decode: Decode, samples: int) -> list[dict]:
    """A decoding task's work on one file: one row per window, or one placeholder row saying why it failed."""
    path, started = str(row["path"]), time.perf_counter()
    try:
        starts, windows, notes = decode(path)
        error, digest = "", audio_digest(windows) or ""
    except Exception as e:  # one bad file never stops a run over a thousand
        starts, windows, notes, error = np.zeros(1), np.zeros((1, samples), np.float32), [], file_failure(path, e)
        digest = ""
    seconds = (time.perf_counter() - started) / len(windows)
    return [{"item": row["item"], "part": k, "parts": len(windows), "start": float(start), WAVEFORM: window,
             "notes": "\n".join(notes) if k == 0 else "", "error": error, "digest": digest if k == 0 else "",
             "decode_seconds": seconds}
            for k, (start, window) in enumerate(zip(starts, windows))]


class _Computer:
    """A Ray Data actor: its model loaded once, then batch after batch of windows."""

    def __init__(self, compute: ComputeFactory):
        from ..core.tf import allow_gpu_memory_growth

        allow_gpu_memory_growth()  # actors may share a GPU (--ray-gpus 0.5)
        self.compute = compute()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        waveforms = batch.pop(WAVEFORM)
        good = batch["error"] == ""
        # A failed file's placeholder is not computed; a batch of only those computes one, for the shapes.
        values = self.compute(waveforms[good] if good.any() else waveforms[:1])
        for name, array in values.items():
            column = np.zeros((len(good), *array.shape[1:]), array.dtype)
            column[good] = array[:int(good.sum())]
            batch[OUT + name] = column
        batch["compute_seconds"] = np.full(len(good), (time.perf_counter() - started) / len(good))
        return batch


def _gather(batches: Iterator[dict[str, np.ndarray]]) -> Iterator[Finished]:
    """Rows in any order -> each file once all its windows are in."""
    waiting: dict[int, dict[int, dict]] = {}
    for batch in batches:
        for r in range(len(batch["item"])):
            item = int(batch["item"][r])
            parts = waiting.setdefault(item, {})
            parts[int(batch["part"][r])] = {column: values[r] for column, values in batch.items()}
            if len(parts) == int(batch["parts"][r]):
                del waiting[item]
                yield _finished(item, [parts[k] for k in sorted(parts)])


def _finished(item: int, rows: list[dict]) -> Finished:
    first = rows[0]
    names = [c for c in first if c.startswith(OUT)]
    return Finished(item, np.array([row["start"] for row in rows]),
                    {name[len(OUT):]: np.stack([row[name] for row in rows]) for name in names},
                    str(first["notes"]).split("\n") if first["notes"] else [], str(first["error"]) or None,
                    float(sum(row["compute_seconds"] for row in rows)),
                    float(sum(row["decode_seconds"] for row in rows)), str(first["digest"]) or None)
