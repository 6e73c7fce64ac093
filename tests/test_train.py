import json

import numpy as np
import pytest

from genre_tf.config import DEFAULT_SEGMENT_SECONDS, EmbeddingParams, TrainConfig, segment_label
from genre_tf.core.errors import GenreTfError, SplitError, StoreError
from genre_tf.features import INPUT_PRESETS
from genre_tf.io.runs import load_run
from genre_tf.io.store import FeatureStore
from genre_tf.models import MODELS, parse_inputs
from genre_tf.training.data import normalization_stats
from genre_tf.workflows.train import TrainEvents, train

from .conftest import MODEL_INPUT_PAIRS, PAIR_SEGMENT_SECONDS, QUICK_PAIRS, REFERENCE_CLI_MODELS
from .helpers import metrics_of


def config(store, tmp_path, **kwargs):
    kwargs.setdefault("epochs", 2)
    kwargs.setdefault("batch_size", 8)
    return TrainConfig(store=str(store), runs_dir=str(tmp_path / "runs"), **kwargs)


def pair_marks(model: str, inputs: str) -> list:
    marks = [pytest.mark.slow] * ((model, inputs) not in QUICK_PAIRS)
    if model in REFERENCE_CLI_MODELS:  # on the worker of the CLI test that reuses them (trained once)
        marks.append(pytest.mark.xdist_group("reference-models"))
    return marks


PAIRS = [pytest.param(model, inputs, marks=pair_marks(model, inputs), id=f"{model}-{inputs}")
         for model, inputs in MODEL_INPUT_PAIRS]


@pytest.mark.parametrize("model,inputs", PAIRS)
def test_every_model_and_input_trains_saves_reloads_predicts_and_exports(pair_runs, synth_store, synth_dataset,
                                                                        tmp_path, request, model, inputs):
    """The contract of every registered model with every input it takes (trained by `genre-tf train`,
    1 epoch): a complete run whose saved model, reloaded, gives the probabilities training evaluated;
    `predict` labels a clip with it; its export gives predict's probabilities, and so does its LiteRT model."""
    from genre_tf.core.tf import tf
    from genre_tf.io.audio import load_audio
    from genre_tf.workflows.export import export_run
    from genre_tf.workflows.litert import LITERT_TOLERANCE, LitePredictor, build_model
    from genre_tf.workflows.predict import Predictor
    from genre_tf.workflows.songs import PROBABILITY_TOLERANCE

    trained = pair_runs.get(model, inputs, request)
    run, names = trained.run_dir, parse_inputs(inputs)
    seconds = PAIR_SEGMENT_SECONDS.get(model, DEFAULT_SEGMENT_SECONDS)
    assert run.name.startswith("-".join(filter(None, ["+".join(names), model, segment_label(seconds)])) + "-")
    # (Hidden: the LiteRT model other tests' `predict` may have made beside the run.)
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == [
        "config.json", "history.json", "labels.json", "metrics.json", "model.keras", "normalization.npz", "split.json",
        "test_clips.csv"]
    loaded, spec = load_run(run), MODELS[model]
    (history,) = loaded.histories
    if spec.exact:  # fit on every non-test clip, its L2 strength chosen over folds of them
        assert history.exact.c in history.exact.cs and history.exact.converged
        assert history.exact.examples == 6 * 3 and "fit in" in trained.stdout  # 2 clips per genre
    else:
        assert history.epochs_run == 1 and history.best_epoch == 1
        assert set(history.epochs[0]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
        # Refit (the pooled heads' default): the best epoch's count again, on train+valid (2 clips per genre).
        assert (history.refit is not None) == spec.refit
        if spec.refit:
            assert history.refit.epochs == 1 and history.refit.segments == 6 * 3
            assert len(history.refit.history) == 1 and history.series("val_loss", refit=True) == [None]
    metrics = loaded.metrics
    per_clip = 3 if seconds == 3 else 1  # 7.6 s clips: 3 segments of 3 s, or 1 of 6 s
    assert metrics.segment["count"] == 3 * per_clip and metrics.clip["count"] == 3  # 1 test clip per genre
    assert metrics.confusion("clip").sum() == 3
    assert json.loads((run / "labels.json").read_text()) == loaded.genres == ["ambient", "rock", "techno"]
    saved = loaded.config
    assert saved.train.seed == 0 and saved.parameters > 0 and f"{saved.parameters:,} parameters" in trained.stdout
    assert saved.store.segment.segment_samples == seconds * 16000
    assert saved.train.augment == spec.augment  # the model's default, recorded
    assert saved.train.refit == spec.refit  # likewise
    # Reloaded, the saved model takes raw features (normalization is inside) and gives the test
    # probabilities that training evaluated with the model in memory.
    predictor = Predictor(run)
    (reloaded,) = predictor.models
    store = FeatureStore(synth_store, seconds)
    test_clips = json.loads((run / "split.json").read_text())["test"]
    rows = store.index.rows_of(test_clips)
    batch = {n: np.asarray(store.array(n)[rows], np.float32) for n in names}
    probabilities = reloaded.predict(batch, verbose=0)
    np.testing.assert_allclose(probabilities, trained.test_probabilities, rtol=0, atol=PROBABILITY_TOLERANCE)
    recomputed = metrics_of(probabilities, np.searchsorted(store.genres, store.index.genres[rows]),
                          store.index.clip_ids[rows])
    assert recomputed.value("segment", "accuracy") == metrics.value("segment", "accuracy")
    scored = load_run(run).scored_clips()  # each test clip's verdict, kept for the report's intervals and tests
    assert sorted(scored.clip_ids) == sorted(test_clips) and scored.right.mean() == metrics.value("clip", "accuracy")
    # predict: a test clip from its audio file, featurized as the store was (in other batches: the
    # probabilities agree within the tolerance stated for batch shapes; measured under 1e-6 here).
    clip = test_clips[0]
    song = synth_dataset / clip.split(".")[0] / f"{clip}.wav"
    prediction = predictor.predict(song)
    assert len(prediction.window_starts) == per_clip and prediction.probabilities.sum() == pytest.approx(1, abs=1e-5)
    stored = probabilities[store.index.clip_ids[rows] == clip]  # the reloaded model on the clip's stored features
    np.testing.assert_allclose(prediction.window_probabilities, stored, rtol=0, atol=PROBABILITY_TOLERANCE)
    # export: the waveform-in SavedModel gives predict's probabilities.
    export_run(predictor, tmp_path / "export", formats=("saved_model",))
    serve = tf.saved_model.load(str(tmp_path / "export" / "saved_model")).signatures["serve"]
    out = serve(waveform=tf.constant(load_audio(song).samples))
    np.testing.assert_array_equal(out["window_starts"].numpy(), prediction.window_starts)
    np.testing.assert_allclose(out["window_probabilities"].numpy(), prediction.window_probabilities, rtol=0,
                               atol=PROBABILITY_TOLERANCE)
    # LiteRT, without TensorFlow: the same probabilities within its tolerance, for every run that converts
    # (an embedding run's with YAMNet's Keras weights: TF-Hub's YAMNet needs TensorFlow's own ops); an LSTM's
    # weights cannot be frozen, and its record says so.
    yamnet = EmbeddingParams(None, request.getfixturevalue("yamnet_weights")) if "embedding" in names else None
    record = build_model(run, yamnet).record
    if model == "lstm":
        assert record.unavailable.startswith("freezing the weights:"), record
        return
    assert record.unavailable is None, record.unavailable
    expected = Predictor(run, yamnet).predict(song) if yamnet else prediction
    lite = LitePredictor(run, yamnet).predict(song)
    np.testing.assert_array_equal(lite.window_starts, expected.window_starts)
    np.testing.assert_allclose(lite.window_probabilities, expected.window_probabilities, rtol=0, atol=LITERT_TOLERANCE)


def test_normalization_comes_from_the_training_split_only(synth_store, pair_runs, request):
    run = pair_runs.get("cnn", "mfcc", request).run_dir
    store = FeatureStore(synth_store)
    train_rows = store.index.rows_of(json.loads((run / "split.json").read_text())["train"])
    mfcc = np.asarray(store.array("mfcc"), np.float64)
    saved = np.load(run / "normalization.npz")
    np.testing.assert_allclose(saved["mfcc_mean"], mfcc[train_rows].reshape(-1, 20).mean(0), rtol=1e-5)
    np.testing.assert_allclose(saved["mfcc_variance"], mfcc[train_rows].reshape(-1, 20).var(0), rtol=1e-4)
    assert not np.allclose(saved["mfcc_mean"], mfcc.reshape(-1, 20).mean(0), rtol=1e-3)


def test_streamed_statistics_equal_numpy(monkeypatch):
    import genre_tf.training.data as pipeline

    monkeypatch.setattr(pipeline, "STATS_CHUNK", 7)  # several chunks
    data = np.random.default_rng(0).normal(3, 2, (50, 4, 5)).astype(np.float16)
    rows = np.array([3, 9, 1, 40, 22, 17, 8, 30, 31, 2, 5])
    mean, variance = normalization_stats(data, rows)
    expected = data[rows].astype(np.float64).reshape(-1, 5)
    np.testing.assert_allclose(mean, expected.mean(0), rtol=1e-5)
    np.testing.assert_allclose(variance, expected.var(0), rtol=1e-4)


@pytest.mark.parametrize("inputs,model", [(("mfcc",), "cnn"), (("logmel",), "cnn5")])  # cnn5: augmented batches
def test_same_seed_gives_the_same_run(synth_store, tmp_path, inputs, model):
    runs = [train(config(synth_store, tmp_path / str(i), inputs=inputs, model=model)) for i in range(2)]
    losses = [load_run(r.run_dir).histories[0].series("loss") for r in runs]
    assert losses[0] == losses[1]
    assert runs[0].metrics == runs[1].metrics
    other = train(config(synth_store, tmp_path / "other", inputs=inputs, model=model, seed=1))
    assert load_run(other.run_dir).histories[0].series("loss") != losses[0]


def test_cross_validation_groups_clips_and_reports_mean_and_std(synth_store, synth_runs):
    run = synth_runs["mfcc-cnn-cv3"]
    folds = [json.loads((run / f"fold-{k}" / "split.json").read_text()) for k in (1, 2, 3)]
    for fold in folds:
        parts = [set(fold[p]) for p in ("train", "valid", "test")]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    tests = [set(f["test"]) for f in folds]
    assert set.union(*tests) == set(FeatureStore(synth_store).index.clip_ids) and sum(map(len, tests)) == 9
    metrics = load_run(run).metrics
    accuracies = [f.value("clip", "accuracy") for f in metrics.folds]
    assert len(accuracies) == 3 and metrics.pooled.clip["count"] == 9
    assert metrics.value("clip", "accuracy") == pytest.approx(np.mean(accuracies))
    assert metrics.spread("clip", "accuracy") == pytest.approx(np.std(accuracies))


def test_a_failed_run_leaves_no_run_directory(synth_store, tmp_path):
    class Crash(TrainEvents):
        def epoch(self, *args):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config(synth_store, tmp_path, inputs=("mfcc",), model="linear"), Crash())
    assert list((tmp_path / "runs").iterdir()) == []


@pytest.mark.parametrize("kwargs,error,message", [
    ({"inputs": ("mfcc",), "model": "transformer"}, GenreTfError, "unknown `model` 'transformer'"),
    ({"inputs": ("mfcc", "logmel"), "model": "cnn"}, GenreTfError, "use `model` combined"),
    ({"inputs": ("mfcc",), "model": "cnn", "split_ratios": (1.0, 0.0, 0.0)}, SplitError, "the valid split is empty"),
    ({"inputs": ("mfcc",), "model": "cnn", "cv": 4}, SplitError, "`cv` 4 needs at least 4 clips in every genre"),
])
def test_bad_requests_fail_with_what_to_do(synth_store, tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message.replace("(", "\\(")):
        train(config(synth_store, tmp_path, **kwargs))


def test_store_without_the_feature(synth_dataset, tmp_path):
    from genre_tf.workflows.extract import extract

    extract(synth_dataset, tmp_path / "fs", ["mfcc"])
    with pytest.raises(StoreError, match="no 'logmel' feature.*--features logmel"):
        train(config(tmp_path / "fs", tmp_path, inputs=("logmel",), model="cnn"))


def test_genre_without_training_clips(synth_store, tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "train.txt").write_text("ambient/ambient.00000.wav\nrock/rock.00000.wav\n")
    (lists / "valid.txt").write_text("ambient/ambient.00001.wav\ntechno/techno.00001.wav\n")
    (lists / "test.txt").write_text("rock/rock.00002.wav\ntechno/techno.00002.wav\n")
    with pytest.raises(SplitError, match="genre techno has no clips in the train split"):
        train(config(synth_store, tmp_path, inputs=("mfcc",), model="cnn", split_lists=str(lists)))


def test_clip_level_scores_average_segment_probabilities():
    # Clip a: segments vote 0, 0, 1 but the mean favours 1; clip b is plainly 2.
    probabilities = np.array([[0.5, 0.4, 0.1], [0.5, 0.4, 0.1], [0.0, 1.0, 0.0], [0, 0, 1], [0, 0, 1]])
    classes = np.array([1, 1, 1, 2, 2])
    metrics = metrics_of(probabilities, classes, np.array(["a", "a", "a", "b", "b"]))
    assert metrics.value("segment", "accuracy") == pytest.approx(3 / 5)
    assert metrics.value("clip", "accuracy") == 1.0 and metrics.clip["count"] == 2


def test_input_presets():
    assert parse_inputs("all") == INPUT_PRESETS["all"] == ("embedding", "logmel", "mfcc")
    assert parse_inputs("nospec") == ("embedding", "mfcc")
    assert parse_inputs("mfcc,embedding") == ("mfcc", "embedding")
    with pytest.raises(GenreTfError, match="unknown --input 'chroma'"):
        parse_inputs("chroma")


def test_class_weights_are_balanced_on_the_training_split(synth_store, tmp_path, monkeypatch):
    import keras

    seen = []
    real_fit = keras.Model.fit

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("class_weight"))
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "train.txt").write_text("ambient/ambient.00000.wav\nambient/ambient.00001.wav\nrock/rock.00000.wav\n"
                                     "techno/techno.00000.wav\n")
    (lists / "valid.txt").write_text("ambient/ambient.00002.wav\nrock/rock.00001.wav\ntechno/techno.00001.wav\n")
    (lists / "test.txt").write_text("rock/rock.00002.wav\ntechno/techno.00002.wav\n")
    train(config(synth_store, tmp_path, inputs=("mfcc",), model="linear", epochs=1, class_weights=True,
                 split_lists=str(lists)))
    # 12 training segments: ambient 6, rock 3, techno 3 -> n / (classes x count); then the refit's, on
    # train+valid (21 segments: ambient 9, rock 6, techno 6).
    assert seen[0] == pytest.approx({0: 12 / 18, 1: 12 / 9, 2: 12 / 9})
    assert seen[1] == pytest.approx({0: 21 / 27, 1: 21 / 18, 2: 21 / 18}) and len(seen) == 2
