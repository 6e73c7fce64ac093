"""Every model that fits the data, on real music, with K-fold cross-validation over clips, next to two
simple baselines computed on the same folds.

    python scripts/bench_real.py --work bench-real            # the real GTZAN clips in ../shared
    python scripts/bench_real.py --data data/music --work w   # your own collection

Steps, each resumable (rerun the same command after an interruption): a folder of links to the clips
(nothing is copied), `extract` of every feature, `train --cv K` of each model/input pair not yet in
<work>/runs, then the baselines and the table (markdown, printed and written to <work>/results.md).

Baselines (scikit-learn, trained on each fold's train+valid clips, scored on its test clips like the
models): logistic regression on the mean YAMNet embedding of each segment, and on musicnn's (MSD)
mean and max pools. Clip level: the mean of a clip's segment probabilities, as for the models.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import typer

from genre_tf.config import EmbeddingParams, MusicnnParams, TrainConfig
from genre_tf.io.runs import scan_runs
from genre_tf.io.splits import cv_splits
from genre_tf.io.store import FeatureStore
from genre_tf.training.evaluate import evaluate, summarize_folds
from genre_tf.workflows.extract import extract
from genre_tf.workflows.train import train

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL_CLIPS = (SHARED / "data" / "gtzan-excerpts", SHARED / "data" / "gtzan-sample")
FEATURES = ["embedding", "logmel", "mfcc", "musicnn"]
# Cheap pooled heads first, then the pretrained-network models, then the from-scratch ones (slowest).
PAIRS = [("linear", "musicnn"), ("linear", "embedding"), ("linear", "embedding,musicnn"), ("mlp", "musicnn"),
         ("mlp", "embedding,musicnn"), ("cnn", "embedding"), ("lstm", "embedding"), ("combined", "embedding,mfcc"),
         ("yamnet", "logmel"), ("cnn", "mfcc"), ("dong", "logmel"), ("cnn5", "logmel"), ("cnn", "logmel")]


def link_clips(sources: list[Path], music: Path) -> None:
    """<music>/<genre>/<clip> links to every clip of the source folders."""
    for source in sources:
        for clip in sorted(source.glob("*/*")):
            link = music / clip.parent.name / clip.name
            if not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(clip.resolve())


def baselines(store: FeatureStore, k: int, seed: int) -> dict[str, dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.searchsorted(store.genres, store.index.genres)
    vectors = {"mean YAMNet embedding + logistic regression": np.asarray(store.array("embedding"), np.float32).mean(1),
               "musicnn (MSD) mean+max pools + logistic regression":
                   np.asarray(store.array("musicnn"), np.float32)[:, :1506]}
    results = {}
    for name, x in vectors.items():
        folds = []
        for split in cv_splits(store.index.clip_genres(), k, seed):
            train_rows, test_rows = store.index.rows_of(split.train + split.valid), store.index.rows_of(split.test)
            classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=5000))
            classifier.fit(x[train_rows], labels[train_rows])
            probabilities = np.zeros((len(test_rows), len(store.genres)))
            probabilities[:, classifier.classes_] = classifier.predict_proba(x[test_rows])
            folds.append(evaluate(probabilities, labels[test_rows], store.index.clip_ids[test_rows]))
        results[name] = summarize_folds(folds)
    return results


def cell(metrics: dict, level: str) -> str:
    value = metrics[level]["accuracy"]
    return f"{value['mean']:.3f} ± {value['std']:.3f}"


def main(data: list[Path] = typer.Option(None, help="Folders of <genre>/<clip> [default: the real clips in ../shared]."),
         work: Path = typer.Option(Path("bench-real"), help="Work folder: links, store, runs, results."),
         yamnet_weights: Path = typer.Option(SHARED / "models" / "yamnet" / "yamnet.h5", help="yamnet.h5."),
         cv: int = typer.Option(5), epochs: int = typer.Option(30), patience: int = typer.Option(8),
         batch_size: int = typer.Option(32), seed: int = typer.Option(0),
         only: str = typer.Option(None, help="Comma list of model:input pairs (inputs joined by +).")):
    pairs = [(m, i.replace("+", ",")) for m, i in (p.split(":") for p in only.split(","))] if only else PAIRS
    music, store_dir, runs_dir = work / "music", work / "features", work / "runs"
    link_clips(data or list(REAL_CLIPS), music)
    extract(music, store_dir, FEATURES, feature_params={"embedding": EmbeddingParams(None, str(yamnet_weights)),
                                                        "musicnn": MusicnnParams()})
    store = FeatureStore(store_dir)
    os.environ.setdefault("GENRE_TF_YAMNET_WEIGHTS", str(yamnet_weights))
    done = {(r.model, ",".join(r.inputs)) for r in scan_runs(runs_dir)[0]} if runs_dir.exists() else set()
    for model, inputs in pairs:
        if (model, inputs) in done:
            continue
        started = time.perf_counter()
        train(TrainConfig(inputs=tuple(inputs.split(",")), model=model, store=str(store_dir), runs_dir=str(runs_dir),
                          epochs=epochs, patience=patience, batch_size=batch_size, seed=seed, cv=cv))
        print(f"{model} on {inputs}: {time.perf_counter() - started:.0f} s", flush=True)

    runs = sorted(scan_runs(runs_dir)[0], key=lambda r: -r.value("clip", "accuracy"))
    rows = [(r.model, "+".join(r.inputs), f"{r.config['parameters']:,}", f"{r.config['epoch_seconds']:.2f}",
             cell(r.metrics, "clip"), cell(r.metrics, "segment")) for r in runs]
    rows += [("baseline", name, "-", "-", cell(m, "clip"), cell(m, "segment"))
             for name, m in baselines(store, cv, seed).items()]
    genres = store.index.clip_genres()
    lines = [f"{len(genres)} real clips ({len(store)} segments of 3 s), {len(store.genres)} genres; {cv}-fold CV "
             f"over clips (seed {seed}), mean ± std over folds; at most {epochs} epochs, patience {patience}, "
             f"batch {batch_size}.", "",
             "| model | input | parameters | s/epoch | clip acc | segment acc |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in sorted(rows, key=lambda row: row[4], reverse=True)]
    text = "\n".join(lines) + "\n"
    (work / "results.md").write_text(text)
    (work / "results.json").write_text(json.dumps([dict(zip(("model", "input", "parameters", "epoch_seconds",
                                                             "clip_accuracy", "segment_accuracy"), row))
                                                   for row in rows], indent=1))
    print(text)


if __name__ == "__main__":
    typer.run(main)
