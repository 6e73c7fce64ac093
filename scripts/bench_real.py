"""Every model that fits the data, on real music, with K-fold cross-validation over clips, next to
simple baselines computed on the same folds.

    python scripts/bench_real.py --work bench-real            # the real GTZAN clips in ../shared
    python scripts/bench_real.py --data data/music --work w   # your own collection
    python scripts/bench_real.py --work bench-real --only logreg:musicnn,linear:musicnn --ablation

Steps, each resumable (rerun the same command after an interruption): a folder of links to the clips
(nothing is copied), `extract` of every feature, `train --cv K` of each model/input pair not yet in
<work>/runs, the baselines (kept in <work>/baselines.json), then the table (markdown, printed and
written to <work>/results.md). `--ablation` adds the pooled heads without refit (<work>/runs-no-refit)
and on a store of overlapping segments (<work>/features-hop<H>, <work>/runs-hop<H>).

Baselines (scikit-learn's own pipeline, written independently of genre-tf: StandardScaler and
LogisticRegression, trained on each fold's train+valid clips and scored on its test clips like the
models): on every stored musicnn (MSD) value, pools and penultimate layer, the strongest simple
baseline; on the mean YAMNet embedding of each segment, both with C chosen by GridSearchCV over folds
of clips; and the earlier one, musicnn's pools at C 0.01. Clip level: the mean of a clip's segment
probabilities, as for the models. Beside each mean, the 95% interval of the clip accuracy over every
clip's out-of-fold prediction, and McNemar's test against the top row on the same clips.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import typer

from genre_tf.config import EmbeddingParams, ExactFitParams, MusicnnParams, TrainConfig, segment_params
from genre_tf.io.runs import Metrics, ScoredClips, scan_runs
from genre_tf.io.splits import cv_splits
from genre_tf.io.store import FeatureStore
from genre_tf.training.evaluate import outcome_metrics, outcomes_of
from genre_tf.training.significance import accuracy_interval
from genre_tf.workflows.extract import extract
from genre_tf.workflows.report import paired_with
from genre_tf.workflows.train import train

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL_CLIPS = (SHARED / "data" / "gtzan-excerpts", SHARED / "data" / "gtzan-sample")
FEATURES = ["embedding", "logmel", "mfcc", "musicnn"]
# Cheap pooled heads first, then the pretrained-network models, then the from-scratch ones (slowest).
PAIRS = [("logreg", "musicnn"), ("logreg", "embedding,musicnn"), ("linear", "musicnn"), ("linear", "embedding"),
         ("linear", "embedding,musicnn"), ("mlp", "musicnn"), ("mlp", "embedding,musicnn"), ("cnn", "embedding"),
         ("lstm", "embedding"), ("combined", "embedding,mfcc"), ("yamnet", "logmel"), ("cnn", "mfcc"),
         ("dong", "logmel"), ("cnn5", "logmel"), ("cnn", "logmel")]
# The ablation: each change to the heads undone, one at a time (`--ablation`).
NO_REFIT = [("linear", "musicnn"), ("linear", "embedding,musicnn"), ("mlp", "musicnn"), ("mlp", "embedding,musicnn")]
HOP_PAIRS = [("logreg", "musicnn"), ("logreg", "embedding,musicnn"), ("linear", "musicnn"), ("mlp", "musicnn"),
             ("mlp", "embedding,musicnn")]


def link_clips(sources: list[Path], music: Path) -> None:
    """<music>/<genre>/<clip> links to every clip of the source folders."""
    for source in sources:
        for clip in sorted(source.glob("*/*")):
            link = music / clip.parent.name / clip.name
            if not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(clip.resolve())


def _logistic_regression(x: np.ndarray, labels: np.ndarray, groups: np.ndarray, c: float | None, seed: int):
    """scikit-learn's own pipeline, written independently of genre-tf's exact head: standardized, then
    L-BFGS logistic regression; C fixed, or chosen from ExactFitParams' grid by held-out log loss over
    5 folds of clips (GridSearchCV, StratifiedGroupKFold) and refit on every training clip."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=c or 1.0, max_iter=5000))
    if c is not None:
        return pipeline.fit(x, labels)
    search = GridSearchCV(pipeline, {"logisticregression__C": list(ExactFitParams().cs)}, scoring="neg_log_loss",
                          cv=StratifiedGroupKFold(5, shuffle=True, random_state=seed), n_jobs=2)
    with warnings.catch_warnings():  # a genre with fewer training clips than inner folds
        warnings.simplefilter("ignore", UserWarning)
        return search.fit(x, labels, groups=groups).best_estimator_


BASELINES = {  # name -> (the vector of a segment, from the store's arrays; C, None: chosen by inner CV)
    "mean YAMNet embedding + logistic regression (C by inner CV)":
        (lambda store: np.asarray(store.array("embedding"), np.float32).mean(1), None),
    "musicnn (MSD) every stored value (pools + penultimate) + logistic regression (C by inner CV)":
        (lambda store: np.asarray(store.array("musicnn"), np.float32), None),
    "musicnn (MSD) mean+max pools + logistic regression (C 0.01, the earlier baseline)":
        (lambda store: np.asarray(store.array("musicnn"), np.float32)[:, :1506], 0.01),
}
STRONGEST = 1  # the baseline the targets are measured against


def baselines(store: FeatureStore, k: int, seed: int, names: list[str], saved: Path) -> dict[str, dict]:
    """Each baseline trained on each fold's train+valid clips and scored on its test clips, like the
    models; kept in `saved` (a rerun reuses it), with every clip's out-of-fold verdict."""
    labels = np.searchsorted(store.genres, store.index.genres)
    clip_ids = store.index.clip_ids
    results = json.loads(saved.read_text()) if saved.exists() else {}
    for name in names:
        if "confidence" in results.get(name, {}).get("clips", {}):
            continue
        (vector, c), folds, clips, seconds = BASELINES[name], [], [], []
        x = vector(store)
        for split in cv_splits(store.index.clip_genres(), k, seed):
            train_rows, test_rows = store.index.rows_of(split.train + split.valid), store.index.rows_of(split.test)
            started = time.perf_counter()
            classifier = _logistic_regression(x[train_rows], labels[train_rows], clip_ids[train_rows], c, seed)
            seconds.append(time.perf_counter() - started)
            probabilities = np.zeros((len(test_rows), len(store.genres)))
            probabilities[:, classifier.classes_] = classifier.predict_proba(x[test_rows])
            outcomes = outcomes_of(probabilities, labels[test_rows], clip_ids[test_rows])
            folds.append(outcome_metrics(outcomes, len(store.genres)))
            clips.append(outcomes.clips)
        joined = ScoredClips.joined(clips)
        summary = Metrics.of_folds(folds)
        results[name] = {"segment": summary.segment, "clip": summary.clip, "fold_seconds": float(np.mean(seconds)),
                         "clips": {f.name: getattr(joined, f.name).tolist() for f in dataclasses.fields(joined)}}
        saved.write_text(json.dumps(results, indent=1))
    return {name: results[name] for name in names}


def cell(metrics: Metrics, level: str) -> str:
    return f"{metrics.value(level, 'accuracy'):.3f} ± {metrics.spread(level, 'accuracy'):.3f}"


def _train_missing(pairs: list[tuple[str, str]], store_dir: Path, runs_dir: Path, refit: bool | None,
                   settings: dict) -> None:
    """`train --cv K` of each pair not yet in runs_dir (rerunning the script resumes)."""
    done = {(r.model, ",".join(r.inputs)) for r in scan_runs(runs_dir)[0]} if runs_dir.exists() else set()
    for model, inputs in pairs:
        if (model, inputs) in done:
            continue
        started = time.perf_counter()
        train(TrainConfig(inputs=tuple(inputs.split(",")), model=model, store=str(store_dir), runs_dir=str(runs_dir),
                          refit=refit, **settings))
        print(f"{model} on {inputs} ({runs_dir.name}): {time.perf_counter() - started:.0f} s", flush=True)


def _run_rows(runs_dir: Path, variant: str, cv: int) -> list[tuple]:
    """(cells..., clip accuracy mean, out-of-fold clips) per run."""
    rows = []
    for r in scan_runs(runs_dir)[0] if runs_dir.exists() else []:
        refit = r.config.train.refit
        fit = "exact" if r.model == "logreg" else "SGD, refit" if refit else "SGD"
        scored = r.scored_clips()
        rows.append((r.model, "+".join(r.inputs), variant, fit, f"{r.config.parameters:,}",
                     f"{r.config.train_seconds / cv:.1f}", cell(r.metrics, "clip"), cell(r.metrics, "segment"),
                     r.metrics.value("clip", "accuracy"), scored.by_clip() if scored else None))
    return rows


def _baseline_rows(store: FeatureStore, variant: str, cv: int, seed: int, names: list[str], saved: Path) -> list[tuple]:
    rows = []
    for name, m in baselines(store, cv, seed, names, saved).items():
        metrics = Metrics.from_json(m)
        rows.append(("baseline", name, variant, "exact", "-", f"{m['fold_seconds']:.1f}", cell(metrics, "clip"),
                     cell(metrics, "segment"), metrics.value("clip", "accuracy"),
                     ScoredClips(**{k: np.asarray(v) for k, v in m["clips"].items()}).by_clip()))
    return rows


def _certainty_cells(rows: list[tuple]) -> list[tuple]:
    """Each row (best first) with the 95% interval of its out-of-fold clip accuracy and McNemar's test
    against the top row on the same clips (rows on a store of other clips, or without their clips: n/a)."""
    rows = sorted(rows, key=lambda row: -row[-2])
    top = rows[0][-1]
    out = []
    for k, (*cells, _mean, clips) in enumerate(rows):
        interval = accuracy_interval(clips.true, clips.predicted).cell() if clips else "n/a"
        versus = paired_with(clips, top) if clips and k else None
        out.append((*cells, interval, "—" if k == 0 else versus.verdict() if versus else "n/a"))
    return out


def main(data: list[Path] = typer.Option(None, help="Folders of <genre>/<clip> "
                                                    "[default: the real clips in ../shared]."),
         work: Path = typer.Option(Path("bench-real"), help="Work folder: links, store, runs, results."),
         yamnet_weights: Path = typer.Option(SHARED / "models" / "yamnet" / "yamnet.h5", help="yamnet.h5."),
         cv: int = typer.Option(5), epochs: int = typer.Option(30), patience: int = typer.Option(8),
         batch_size: int = typer.Option(32), seed: int = typer.Option(0),
         only: str = typer.Option(None, help="Comma list of model:input pairs (inputs joined by +)."),
         features: str = typer.Option(",".join(FEATURES), help="Features to extract (the pairs' inputs)."),
         ablation: bool = typer.Option(False, help="Also the heads without refit and on segments every 1.5 s."),
         hop: float = typer.Option(1.5, help="--ablation: the hop of the overlapping store (seconds).")):
    pairs = [(m, i.replace("+", ",")) for m, i in (p.split(":") for p in only.split(","))] if only else PAIRS
    music = work / "music"
    link_clips(data or list(REAL_CLIPS), music)
    os.environ.setdefault("GENRE_TF_YAMNET_WEIGHTS", str(yamnet_weights))
    settings = {"epochs": epochs, "patience": patience, "batch_size": batch_size, "seed": seed, "cv": cv}
    params = {"embedding": EmbeddingParams(None, str(yamnet_weights)), "musicnn": MusicnnParams()}
    names = features.split(",")
    extract(music, work / "features", names, feature_params=params)
    store = FeatureStore(work / "features")
    _train_missing(pairs, work / "features", work / "runs", None, settings)
    rows = _run_rows(work / "runs", "", cv) + _baseline_rows(store, "", cv, seed, list(BASELINES),
                                                            work / "baselines.json")
    if ablation:
        _train_missing([p for p in NO_REFIT if p in pairs], work / "features", work / "runs-no-refit", False, settings)
        rows += _run_rows(work / "runs-no-refit", "no refit", cv)
        hop_store = work / f"features-hop{hop:g}"
        extract(music, hop_store, ["embedding", "musicnn"], segment_params(hop_seconds=hop), feature_params=params)
        _train_missing([p for p in HOP_PAIRS if p in pairs], hop_store, work / f"runs-hop{hop:g}", None, settings)
        rows += _run_rows(work / f"runs-hop{hop:g}", f"hop {hop:g} s", cv)
        rows += _baseline_rows(FeatureStore(hop_store), f"hop {hop:g} s", cv, seed, [list(BASELINES)[STRONGEST]],
                               work / f"baselines-hop{hop:g}.json")

    genres = store.index.clip_genres()
    lines = [f"{len(genres)} real clips ({len(store)} segments of 3 s), {len(store.genres)} genres; {cv}-fold CV "
             f"over clips (seed {seed}), mean ± std over folds; at most {epochs} epochs, patience {patience}, "
             f"batch {batch_size}. Clip accuracy: the mean of a clip's segment probabilities (with a hop, over every "
             "overlapping window of the clip, as `predict --hop` does); segment accuracy over the same windows.", "",
             "95% CI: Wilson's score interval over every clip's out-of-fold prediction (pooled accuracy); vs #1: "
             "McNemar's exact test against the top row on the same clips (tied: p ≥ 0.05).", "",
             "| model | input | variant | fit | parameters | train s/fold | clip acc | segment acc | clip acc, 95% CI "
             "| vs #1 |", "|---|---|---|---|---|---|---|---|---|---|"]
    table = _certainty_cells(rows)
    lines += ["| " + " | ".join(row) + " |" for row in table]
    text = "\n".join(lines) + "\n"
    (work / "results.md").write_text(text)
    (work / "results.json").write_text(json.dumps([dict(zip(("model", "input", "variant", "fit", "parameters",
                                                             "fold_seconds", "clip_accuracy", "segment_accuracy",
                                                             "clip_accuracy_interval", "versus_top"), row))
                                                   for row in table], indent=1))
    print(text)


if __name__ == "__main__":
    typer.run(main)
