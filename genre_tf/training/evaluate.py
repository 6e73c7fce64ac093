"""Metrics at segment level and at clip level (a clip's prediction is the mean of its segments'
probabilities), and their summary over cross-validation folds. This module is the only one that
writes or reads a confusion matrix as metrics.json keeps it (`confusion_cells`, `read_confusion`)."""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_array
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=range(n_classes),
                                                               average="macro", zero_division=0)
    return {
        "count": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": balanced_accuracy(y_true, y_pred, n_classes),
        "precision": float(precision), "recall": float(recall), "f1": float(f1),
        "confusion_matrix": confusion_cells(y_true, y_pred, n_classes),
    }


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """The mean recall of the genres the test split has, as sklearn's balanced_accuracy_score, whose
    dense confusion matrix of every genre seen would take 800 MB at 10,000 genres."""
    support = np.bincount(y_true, minlength=n_classes)
    right = np.bincount(y_true[y_true == y_pred], minlength=n_classes)
    present = support > 0
    return float(np.mean(right[present] / support[present]))


def confusion_cells(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """The confusion matrix (rows: true genre, columns: predicted) as metrics.json keeps it, its nonzero
    cells: {"labels": genres, "cells": [[true, predicted, count], ...]}. At most one cell per test
    segment, where the dense matrix of 10,000 genres has 100 million."""
    cells, counts = np.unique(np.stack([y_true, y_pred], axis=1), axis=0, return_counts=True)
    return {"labels": int(n_classes), "cells": [[int(t), int(p), int(c)] for (t, p), c in zip(cells, counts)]}


def read_confusion(stored: dict | list) -> coo_array:
    """A confusion matrix from metrics.json, sparse: `confusion_cells`' form, or the dense list of rows
    that runs of genre-tf 0.2 and earlier hold."""
    if isinstance(stored, list):
        return coo_array(np.asarray(stored, dtype=np.int64))
    cells = np.asarray(stored["cells"], dtype=np.int64).reshape(-1, 3)
    return coo_array((cells[:, 2], (cells[:, 0], cells[:, 1])), shape=(stored["labels"],) * 2)


def clip_probabilities(probabilities: np.ndarray, clip_ids: np.ndarray, labels: np.ndarray):
    """Mean segment probabilities per clip -> (clip ids, clip probabilities, clip labels)."""
    clips, inverse = np.unique(clip_ids, return_inverse=True)
    # (clips, segments) of ones: a product sums each clip's rows, where np.add.at takes twice as long
    members = coo_array((np.ones(len(inverse)), (inverse, np.arange(len(inverse)))), shape=(len(clips), len(inverse)))
    sums = members.tocsr() @ probabilities
    counts = np.bincount(inverse, minlength=len(clips))[:, None]
    clip_labels = np.zeros(len(clips), dtype=int)
    clip_labels[inverse] = labels
    return clips, sums / counts, clip_labels


def evaluate(probabilities: np.ndarray, labels: np.ndarray, clip_ids: np.ndarray) -> dict:
    n_classes = probabilities.shape[1]
    _, clip_probs, clip_labels = clip_probabilities(probabilities, clip_ids, labels)
    return {"segment": classification_metrics(labels, probabilities.argmax(1), n_classes),
            "clip": classification_metrics(clip_labels, clip_probs.argmax(1), n_classes)}


def summarize_folds(fold_metrics: list[dict]) -> dict:
    """Mean and standard deviation of every metric over folds, per level."""
    return {level: {m: {"mean": float(np.mean([f[level][m] for f in fold_metrics])),
                        "std": float(np.std([f[level][m] for f in fold_metrics]))} for m in METRICS}
            for level in ("segment", "clip")}
