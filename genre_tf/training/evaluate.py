"""Metrics at segment level and at clip level (a clip's prediction is the mean of its segments'
probabilities), and their summary over cross-validation folds."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, precision_recall_fscore_support

METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    import warnings

    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=range(n_classes),
                                                               average="macro", zero_division=0)
    with warnings.catch_warnings():  # a small test split may lack a genre that was predicted: expected
        warnings.simplefilter("ignore", UserWarning)
        balanced = balanced_accuracy_score(y_true, y_pred)
    return {
        "count": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced),
        "precision": float(precision), "recall": float(recall), "f1": float(f1),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=range(n_classes)).tolist(),
    }


def clip_probabilities(probabilities: np.ndarray, clip_ids: np.ndarray, labels: np.ndarray):
    """Mean segment probabilities per clip -> (clip ids, clip probabilities, clip labels)."""
    clips, inverse = np.unique(clip_ids, return_inverse=True)
    sums = np.zeros((len(clips), probabilities.shape[1]))
    np.add.at(sums, inverse, probabilities)
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
