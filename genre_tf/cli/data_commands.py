"""`extract`: a folder of labelled clips -> a feature store."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..config import (
    DECODE_WORKERS,
    DEFAULT_DATA,
    DEFAULT_FEATURES,
    DEFAULT_SEGMENT_SECONDS,
    DEFAULT_STORE,
    EXTRACT_BATCH_SIZE,
    FMA_SUBSETS,
    MIN_CLIPS_PER_GENRE,
    YAMNET_HUB_HANDLE,
    MusicnnParams,
    RayParams,
    SegmentParams,
    embedding_params,
    segment_params,
)
from ..features import FEATURES
from .app import ENGINE_OPTION, RAY_ACTORS_OPTION, RAY_ADDRESS_OPTION, RAY_GPUS_OPTION, app, path_text
from .console import FileProgress, cli_errors, default, print_table, say


@app.command()
@cli_errors("the clips finished so far are kept; rerun `genre-tf extract --store STORE` to finish")
def extract(
    data: Path = typer.Option(None, help="Folder of <genre>/<clip> audio files, or the audio --labels "
                              "describes."
                              + default(f"the store's own, else {DEFAULT_DATA}"), parser=path_text),
    store: Path = typer.Option(Path(DEFAULT_STORE), help="Feature store folder.", parser=path_text),
    features: str = typer.Option(None, help=f"Comma list of features: {', '.join(FEATURES)}."
                                 + default("the store's, else " + ",".join(DEFAULT_FEATURES))),
    yamnet_handle: str = typer.Option(None, help="YAMNet TF-Hub handle or local SavedModel folder."
                                      + default(f"$GENRE_TF_YAMNET_HANDLE, else {YAMNET_HUB_HANDLE}")),
    yamnet_weights: str = typer.Option(None, help="yamnet.h5: use genre-tf's batched Keras YAMNet (fast)."
                                       + default("$GENRE_TF_YAMNET_WEIGHTS")),
    musicnn_model: str = typer.Option(None, help="musicnn's trained weights: MSD_musicnn, MTT_musicnn or a "
                                      "checkpoint folder." + default(MusicnnParams.model)),
    batch_size: int = typer.Option(EXTRACT_BATCH_SIZE, help="Segments per feature batch."),
    workers: int = typer.Option(DECODE_WORKERS, help="Decoding threads working ahead of the feature batches."),
    max_seconds: float = typer.Option(SegmentParams.max_seconds, help="Clips are trimmed to this length."),
    segment_seconds: float = typer.Option(DEFAULT_SEGMENT_SECONDS, help="Segment length; each length is kept in "
                                          "its own <store>/<N>s/."),
    hop: float = typer.Option(None, help="Seconds between segment starts: less than --segment-seconds cuts "
                              "overlapping segments from the same clips (more to train on; a clip's segments stay "
                              "on one side of every split)." + default("the segment length, no overlap")),
    rebuild: bool = typer.Option(False, help="Discard the store and extract everything again."),
    labels: str = typer.Option(None, help="Where the genres come from: fma (FMA's tracks.csv), tags (each file's "
                               "genre tag, files at any depth) or a labels CSV (path,genre[,split])."
                               + default("the store's, else genre folders: <data>/<genre>/<clip>")),
    fma_metadata: Path = typer.Option(None, help="--labels fma: the folder of tracks.csv."
                                      + default("fma_metadata/ beside or inside --data"), parser=path_text),
    fma_subset: str = typer.Option(None, help=f"--labels fma: {', '.join(FMA_SUBSETS)} (each holds the ones "
                                   f"before it)." + default(FMA_SUBSETS[0])),
    genre_map: Path = typer.Option(None, help="--labels tags: a CSV from,to merging genre aliases (an empty to "
                                   "drops the genre).", parser=path_text),
    min_clips: int = typer.Option(None, help="--labels tags: genres with fewer clips are dropped."
                                  + default(MIN_CLIPS_PER_GENRE)),
    engine: str = ENGINE_OPTION,
    ray_address: str = RAY_ADDRESS_OPTION,
    ray_actors: int = RAY_ACTORS_OPTION,
    ray_gpus: float = RAY_GPUS_OPTION,
):
    """Decode every clip, cut it into segments (3 s) and cache the features in a store. With only
    --store, finishes an interrupted extraction or updates the store from its own data folder."""
    from ..features import parse_feature_names
    from ..io.labels import label_source
    from ..workflows.extract import extract as run_extract

    params = {}
    if yamnet_handle or yamnet_weights:
        params["embedding"] = embedding_params(yamnet_handle, yamnet_weights)
    if musicnn_model:
        params["musicnn"] = MusicnnParams(musicnn_model)
    events = FileProgress("extracting", "clips")
    try:
        result = run_extract(data, store, parse_feature_names(features) if features is not None else None,
                             segment_params(segment_seconds, max_seconds, hop), params, rebuild=rebuild, events=events,
                             batch_size=batch_size, workers=workers, engine=engine,
                             ray=RayParams(ray_address, ray_actors, ray_gpus),
                             labels=label_source(labels, data, fma_metadata, fma_subset, genre_map, min_clips))
    finally:
        events.close()
    if result.up_to_date:
        say(f"{result.store}: up to date, nothing to do ({result.clips} clips, {result.segments} segments)")
        return
    table = Table(title=f"feature store {result.store}", show_header=True)
    for column in ("feature", "array"):
        table.add_column(column)
    for name, shape in result.shapes.items():
        table.add_row(name, str((result.segments, *shape)))
    print_table(table)
    rate = f", {result.segments_extracted / result.compute_seconds:.0f} segments/s" if result.compute_seconds else ""
    timing = (f"computing features {result.compute_seconds:.1f} s{rate}; waiting for decoding "
              f"{result.decode_seconds:.1f} s" if result.engine == "local" else
              f"Ray: actors computing features {result.compute_seconds:.1f} s{rate}, tasks decoding "
              f"{result.decode_seconds:.1f} s")
    say(f"{result.clips} clips, {result.segments} segments; {result.extracted} clips extracted now, "
        f"{result.reused} resumed, {len(result.skipped)} skipped; {result.seconds:.1f} s ({timing})")
