"""Metrics at segment level and at clip level (a clip's prediction is the mean of its segments'
probabilities); io/runs.py's Metrics keeps them and sums them up over cross-validation folds.

Macro precision, recall and F1 are over the genres the test clips have, as balanced accuracy is: a
genre with no test clip has no recall to average (counting it as 0 would score a perfect run on a
split without it below 1), so macro recall equals balanced accuracy.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.sparse import coo_array
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from ..io.runs import Metrics, ScoredClips, confusion_cells


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=np.unique(y_true),
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


def clip_probabilities(probabilities: np.ndarray, clip_ids: np.ndarray, classes: np.ndarray):
    """Mean segment probabilities per clip -> (clip ids, clip probabilities, clip classes)."""
    clips, inverse = np.unique(clip_ids, return_inverse=True)
    # (clips, segments) of ones: a product sums each clip's rows, where np.add.at takes twice as long
    members = coo_array((np.ones(len(inverse)), (inverse, np.arange(len(inverse)))), shape=(len(clips), len(inverse)))
    sums = members.tocsr() @ probabilities
    counts = np.bincount(inverse, minlength=len(clips))[:, None]
    clip_classes = np.zeros(len(clips), dtype=int)
    clip_classes[inverse] = classes
    return clips, sums / counts, clip_classes


@dataclasses.dataclass
class Outcomes:
    """What a model said of its test segments and clips (class indices): the scores, a CV run's pooled
    scores, and the report's intervals and paired comparisons (from the clips) come from these."""

    segment_true: np.ndarray
    segment_predicted: np.ndarray
    clips: ScoredClips

    @classmethod
    def pooled(cls, outcomes: list[Outcomes]) -> Outcomes:
        """A CV run's folds together: each clip is a test clip of exactly one fold."""
        return cls(np.concatenate([o.segment_true for o in outcomes]),
                   np.concatenate([o.segment_predicted for o in outcomes]),
                   ScoredClips.joined([o.clips for o in outcomes]))


def outcomes_of(probabilities: np.ndarray, classes: np.ndarray, clip_ids: np.ndarray) -> Outcomes:
    """Each test segment's and clip's predicted class (a clip's: the mean of its segments' probabilities),
    beside its true one (`classes`)."""
    clips, clip_probs, clip_classes = clip_probabilities(probabilities, clip_ids, classes)
    predicted = clip_probs.argmax(1)
    return Outcomes(classes, probabilities.argmax(1),
                    ScoredClips(clips, clip_classes, predicted, clip_probs[np.arange(len(clips)), predicted]))


def outcome_metrics(outcomes: Outcomes, n_classes: int) -> Metrics:
    return Metrics(segment=classification_metrics(outcomes.segment_true, outcomes.segment_predicted, n_classes),
                   clip=classification_metrics(outcomes.clips.true, outcomes.clips.predicted, n_classes))
