"""Many genres: a confusion matrix is kept as its nonzero cells, so that a run of 10,000 genres has
small files and loads fast; runs that hold the dense matrix (genre-tf 0.2) still load and report.
The runs here are written by RunWriter around a stand-in model file: no training."""
import json
import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, confusion_matrix

from genre_tf.io.runs import load_run, read_confusion
from genre_tf.training.evaluate import classification_metrics
from genre_tf.workflows import plots
from genre_tf.workflows.report import rank_runs, write_report

from .helpers import metrics_of, write_run


def scored(n_genres: int, clips: int, seed: int = 0):
    """Metrics of a model about half right, on `clips` test clips of two segments each."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(rng.integers(0, n_genres, clips), 2)
    probabilities = rng.random((len(labels), n_genres), dtype=np.float32)
    probabilities[np.arange(len(labels)), labels] += rng.random(len(labels)) < 0.5
    return metrics_of(probabilities, labels, np.repeat(np.arange(clips), 2))


def test_confusion_cells_read_back_as_sklearns_matrix():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 6, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 8, 200))  # 8 genres: 7 is never true
    # 9 genres: one neither true nor predicted; and through JSON, as metrics.json holds them
    metrics = json.loads(json.dumps(classification_metrics(y_true, y_pred, 9)))
    assert metrics["confusion_matrix"]["labels"] == 9
    assert len(metrics["confusion_matrix"]["cells"]) == np.count_nonzero(confusion_matrix(y_true, y_pred))
    np.testing.assert_array_equal(read_confusion(metrics["confusion_matrix"]).toarray(),
                                  confusion_matrix(y_true, y_pred, labels=range(9)))
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": meant
        warnings.simplefilter("ignore", UserWarning)
        assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred), abs=1e-12)


def test_a_run_of_10000_genres_has_small_files_and_loads_whole(tmp_path):
    labels = [f"genre{k:05d}" for k in range(10_000)]
    metrics = scored(len(labels), clips=300)
    run = write_run(tmp_path / "runs", "many", labels, [metrics])
    assert (run / "metrics.json").stat().st_size < 100_000  # 12 kB; as genre-tf 0.2 wrote it, 1.4 GB
    assert sum(f.stat().st_size for f in run.iterdir()) < 1_000_000  # the genres in labels.json and config.json: 300 kB
    loaded = load_run(run)
    clip = loaded.metrics.confusion("clip")
    assert clip.shape == (10_000, 10_000) and clip.sum() == 300 and clip.nnz <= 300
    assert loaded.metrics.confusion("segment").sum() == 600
    assert loaded.metrics.value("clip", "accuracy") == metrics.value("clip", "accuracy")


def test_report_draws_many_genres_unlabelled(tmp_path):
    labels = [f"genre{k:05d}" for k in range(10_000)]
    write_run(tmp_path / "runs", "many", labels, [scored(len(labels), clips=300)])
    folder = write_report(rank_runs(tmp_path / "runs"), tmp_path / "reports")
    height, width = plots.plt.imread(folder / "confusion-many.png").shape[:2]
    assert width < 1000 and height < 1000  # labelled, 10,000 genres would be 5,500 inches wide


def test_runs_with_the_dense_matrix_of_genre_tf_0_2_still_report(tmp_path, monkeypatch):
    labels = ["blues", "jazz", "rock"]
    folds = [scored(3, clips=6, seed=k) for k in range(3)]
    for fold in folds:  # as genre-tf 0.2 wrote metrics.json: every cell, row by row
        for level in ("segment", "clip"):
            fold.level(level)["confusion_matrix"] = fold.confusion(level).toarray().tolist()
    write_run(tmp_path / "runs", "plain", labels, folds[:1])
    write_run(tmp_path / "runs", "cv", labels, folds, cv=True)
    drawn, draw = {}, plots.confusion_matrix_png

    def remember(matrix, labels, title, path):
        drawn[path.name] = matrix.toarray()
        draw(matrix, labels, title, path)

    monkeypatch.setattr(plots, "confusion_matrix_png", remember)
    folder = write_report(rank_runs(tmp_path / "runs"), tmp_path / "reports")
    np.testing.assert_array_equal(drawn["confusion-plain.png"], folds[0].clip["confusion_matrix"])
    np.testing.assert_array_equal(drawn["confusion-cv.png"], np.sum([f.clip["confusion_matrix"] for f in folds], 0))
    assert all((folder / name).stat().st_size > 10_000 for name in drawn)  # real figures
