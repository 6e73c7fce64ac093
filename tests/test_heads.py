"""The heads that use every labelled clip: the exact linear head (`logreg`) against scikit-learn, the
refit on train+valid, and overlapping training segments (`extract --hop`)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from genre_tf.config import DEFAULT_RATIOS, ExactFitParams, MfccParams, TrainConfig, segment_params
from genre_tf.core.errors import GenreTfError
from genre_tf.io.runs import load_run
from genre_tf.io.splits import random_split
from genre_tf.io.store import FeatureStore
from genre_tf.workflows.train import train

from .helpers import compute_feature

# What the exact head promises: its Keras model gives the fitted scikit-learn model's probabilities
# within this (float32 inference of a float64 fit; measured under 2e-6 on the real clips).
EXACT_TOLERANCE = 1e-5


def test_the_exact_head_is_the_fitted_logistic_regression_and_scikit_learns_own(gtzan_store):
    """On the real clips' musicnn vectors: the Keras model `logreg` saves gives the probabilities of the
    logistic regression fit on its pooled vectors, and those of scikit-learn's own pipeline
    (StandardScaler + LogisticRegression at the chosen C) on the raw vectors."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from genre_tf.models import build_model
    from genre_tf.training.calibration import calibrate_standardizers
    from genre_tf.training.data import make_dataset, normalization_stats
    from genre_tf.training.exact import fit_exact, pooled_vectors

    store = FeatureStore(gtzan_store)
    x = np.asarray(store.array("musicnn"), np.float32)
    labels = np.searchsorted(store.genres, store.index.genres)
    split = random_split(store.index.clip_genres(), DEFAULT_RATIOS, 0)
    rows = store.index.rows_of(split.train + split.valid)
    test = store.index.rows_of(split.test)
    model = build_model("logreg", {"musicnn": x.shape[1:]}, len(store.genres),
                        {"musicnn": normalization_stats(x, rows)})
    ordered = make_dataset({"musicnn": x}, rows, labels[rows], len(store.genres), 16, shuffle=False, seed=0)
    calibrate_standardizers(model, ordered)
    fit, record = fit_exact(model, ordered, labels[rows], store.index.clip_ids[rows], ExactFitParams(), 0)

    keras_probabilities = model.predict({"musicnn": x[test]}, verbose=0)
    test_data = make_dataset({"musicnn": x}, test, labels[test], len(store.genres), 16, shuffle=False, seed=0)
    expected = fit.probabilities(pooled_vectors(model, test_data))
    np.testing.assert_allclose(keras_probabilities, expected, rtol=0, atol=EXACT_TOLERANCE)
    assert record.values_used == len(fit.used) < record.values  # musicnn's dead units left out
    assert record.converged and record.c in ExactFitParams().cs
    assert record.chosen_loss == min(record.inner_cv_log_loss)

    # scikit-learn's pipeline on the stored vectors, written without genre-tf: the same model. One
    # difference on purpose: StandardScaler blows a value whose spread is float noise (musicnn has
    # columns of variance 1e-28) up to unit variance; genre-tf's standardization keeps it near 0.
    informative = x[rows].astype(np.float64).var(0) > 1e-6
    reference = make_pipeline(StandardScaler(),
                              LogisticRegression(C=record.c, max_iter=5000, tol=ExactFitParams().tol))
    reference.fit(x[rows][:, informative].astype(np.float64), labels[rows])
    own = np.zeros_like(keras_probabilities)
    own[:, reference.classes_] = reference.predict_proba(x[test][:, informative].astype(np.float64))
    np.testing.assert_allclose(keras_probabilities, own, rtol=0, atol=1e-2)


def _poisoned_copy(synth_store, tmp_path, clips: list[str]):
    """A copy of the synthetic store whose segments of `clips` are NaN in every feature: any fit, statistic
    or standardization that reads one becomes NaN (or, in scikit-learn, refuses)."""
    copy = tmp_path / "poisoned"
    shutil.copytree(synth_store / "3s", copy / "3s")
    store = FeatureStore(copy)
    rows = store.index.rows_of(clips)
    for name in store.manifest.features:
        (path,) = store.root.glob(f"{name}.*.npy")
        array = np.load(path, mmap_mode="r+")
        array[rows] = np.nan
        array.flush()
    return copy


@pytest.mark.parametrize("model", ["linear", "logreg"])
def test_refit_and_the_exact_fit_never_see_a_test_clip(synth_store, tmp_path, model):
    """The test clips' segments are NaN: the refit on train+valid (linear) and the exact fit with its
    inner cross-validation (logreg) still give finite weights, statistics and losses throughout, and
    score the test clips (NaN: so they were read only there). Poison a valid clip instead and the same
    training sees it and stops (the control: the poison is not silently dropped)."""
    import keras

    clip_genres = FeatureStore(synth_store).index.clip_genres()
    split = random_split(clip_genres, DEFAULT_RATIOS, 0)  # the split train() makes with seed 0
    store = _poisoned_copy(synth_store, tmp_path, split.test)
    config = TrainConfig(inputs=("mfcc", "logmel"), model=model, store=str(store), runs_dir=str(tmp_path / "runs"),
                         epochs=3, batch_size=8, refit=True if model == "linear" else None)
    result = train(config)
    run = load_run(result.run_dir)
    (history,) = run.histories
    if model == "linear":
        assert history.refit.segments == 6 * 3  # train+valid: 2 clips per genre
        losses = history.series("loss") + history.series("loss", refit=True)
    else:
        losses = [history.exact.train_loss, *history.exact.inner_cv_log_loss]
    assert np.isfinite(losses).all()
    weights = keras.saving.load_model(result.run_dir / "model.keras").get_weights()
    assert all(np.isfinite(w).all() for w in weights)
    normalization = np.load(result.run_dir / "normalization.npz")
    assert all(np.isfinite(normalization[k]).all() for k in normalization.files)
    assert run.config.train.refit == (model == "linear")

    valid_poisoned = _poisoned_copy(synth_store, tmp_path / "control", split.valid[:1])
    if model == "logreg":
        with pytest.raises(GenreTfError, match="features hold NaN or infinite values"):
            train(TrainConfig(**{**config.__dict__, "store": str(valid_poisoned)}))
    else:  # the epochs on train alone stay finite (picked by accuracy); the refit, on train+valid, does not
        with pytest.raises(GenreTfError, match="^training diverged: loss became nan at epoch 1"):
            train(TrainConfig(**{**config.__dict__, "store": str(valid_poisoned), "monitor": "val_accuracy"}))


def test_overlapping_segments_are_recorded_cut_at_the_hop_and_kept_on_one_side(synth_dataset, synth_store, tmp_path):
    """`extract --hop 1.5`: segments every 1.5 s (7.6 s clips: windows at 0, 1.5, 3, 4.5 s, and the tail
    padded), recorded in the store; each equal to the clip's audio at its start; training splits by clip."""
    from genre_tf.io.audio import load_audio
    from genre_tf.workflows.extract import extract

    store_dir = tmp_path / "hop"
    extract(synth_dataset, store_dir, ["mfcc"], segment_params(hop_seconds=1.5))
    store = FeatureStore(store_dir)
    assert store.manifest.segment_params["hop_samples"] == 24000
    plain = FeatureStore(synth_store)
    assert plain.manifest.segment_params["hop_samples"] is None  # the default: no overlap
    per_clip = {c: int((store.index.clip_ids == c).sum()) for c in store.index.clip_genres()}
    assert set(per_clip.values()) == {4}  # starts 0, 1.5, 3, 4.5 s (6 s < 7.6 s); 6 s would hold 1.6 s < half
    # The features of the overlapping window at 1.5 s are those of the audio there.
    clip = sorted(per_clip)[0]
    audio = load_audio(synth_dataset / clip.split(".")[0] / f"{clip}.wav", 16000, 30).samples
    window = audio[24000:72000][None]
    row = store.index.rows_of([clip])[1]
    np.testing.assert_allclose(np.asarray(store.array("mfcc")[row]), compute_feature("mfcc", MfccParams(), window)[0],
                               rtol=1e-4, atol=1e-3)
    result = train(TrainConfig(inputs=("mfcc",), model="logreg", store=str(store_dir), runs_dir=str(tmp_path / "r")))
    saved = json.loads((result.run_dir / "split.json").read_text())
    assert not set(saved["test"]) & set(saved["train"] + saved["valid"])
    metrics = load_run(result.run_dir).metrics
    assert metrics.segment["count"] == 4 * len(saved["test"])  # every window of a test clip is scored
    assert metrics.clip["count"] == len(saved["test"])


def test_a_store_from_before_the_hop_reads_as_no_overlap(synth_dataset, synth_store, tmp_path):
    """A manifest without `hop_samples` (stores made before it) is the default: not a change of parameters."""
    from genre_tf.workflows.extract import extract

    copy = tmp_path / "old"
    shutil.copytree(synth_store, copy)
    manifest = copy / "3s" / "manifest.json"
    raw = json.loads(manifest.read_text())
    del raw["segment_params"]["hop_samples"]
    manifest.write_text(json.dumps(raw))
    assert extract(synth_dataset, copy, ["mfcc"]).up_to_date
    with pytest.raises(Exception, match="hop_samples: None -> 24000"):
        extract(synth_dataset, copy, ["mfcc"], segment_params(hop_seconds=1.5))
