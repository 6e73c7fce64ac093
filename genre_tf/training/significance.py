"""How sure a score is: a 95% interval for a run's clip accuracy and balanced accuracy (bootstrap over its
test clips), and whether two runs that scored the same clips differ by more than noise (McNemar's exact
test on the clips one got right and the other wrong). NumPy only: `report` ranks without scikit-learn.

The clip is the unit: a clip's segments are not independent draws, so resampling segments would give
intervals far too narrow. A CV run's clips are its out-of-fold predictions, each clip scored once.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed: the same runs always get the same intervals
# Two runs are told apart when McNemar's test gives p below this (each pair on its own, not corrected for
# the number of runs in a table: a tie mark is a warning, not a verdict).
TIE_P_VALUE = 0.05


@dataclasses.dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def cell(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def accuracy_interval(true: np.ndarray, predicted: np.ndarray) -> Interval:
    """Accuracy with its 95% percentile bootstrap interval over the clips."""
    right = (true == predicted).astype(np.float64)
    return _bootstrap(right.mean(), lambda rows: right[rows].mean(axis=1), len(right))


def balanced_accuracy_interval(true: np.ndarray, predicted: np.ndarray) -> Interval:
    """Balanced accuracy (the mean recall of the genres present) with its 95% bootstrap interval: each
    resample's recall is over the genres that resample holds."""
    _, genre = np.unique(true, return_inverse=True)
    genres, right = genre.max() + 1, (true == predicted)

    def statistic(rows: np.ndarray) -> np.ndarray:
        offset = (np.arange(len(rows))[:, None] * genres + genre[rows]).ravel()
        support = np.bincount(offset, minlength=len(rows) * genres).reshape(len(rows), genres)
        hits = np.bincount(offset, weights=right[rows].ravel(), minlength=len(rows) * genres).reshape(len(rows), genres)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nanmean(np.where(support > 0, hits / support, np.nan), axis=1)

    return _bootstrap(float(statistic(np.arange(len(true))[None, :])[0]), statistic, len(true))


def _bootstrap(value: float, statistic, n: int) -> Interval:
    """Percentile interval of `statistic` over BOOTSTRAP_RESAMPLES resamples of n clips, in chunks that
    keep memory small on large test sets."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    chunk = max(1, min(BOOTSTRAP_RESAMPLES, 2_000_000 // max(n, 1)))
    values = np.concatenate([statistic(rng.integers(0, n, size=(min(chunk, BOOTSTRAP_RESAMPLES - start), n)))
                             for start in range(0, BOOTSTRAP_RESAMPLES, chunk)])
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(value), float(low), float(high))


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Two runs on the same clips: the clips only the first got right, only the second, and McNemar's
    exact two-sided p-value for "they are equally good"."""

    only_first: int
    only_second: int
    p_value: float

    @property
    def tied(self) -> bool:
        return self.p_value >= TIE_P_VALUE


def mcnemar(first_right: np.ndarray, second_right: np.ndarray) -> Comparison:
    """McNemar's exact test on paired outcomes (the same clips, in the same order): of the clips where
    the runs disagree, how likely a split this uneven is if each were as likely to be the right one."""
    only_first = int(np.sum(first_right & ~second_right))
    only_second = int(np.sum(~first_right & second_right))
    disagreements = only_first + only_second
    tail = sum(math.comb(disagreements, k) for k in range(min(only_first, only_second) + 1))
    p_value = min(1.0, 2 * tail / 2 ** disagreements) if disagreements else 1.0
    return Comparison(only_first, only_second, p_value)
