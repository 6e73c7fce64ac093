"""How sure a score is: a 95% interval for a run's clip accuracy (Wilson's score interval: the clips are
Bernoulli trials) and balanced accuracy (bootstrap over its test clips), and whether two runs that scored
the same clips differ by more than noise (McNemar's exact test on the clips one got right and the other
wrong). NumPy only: `report` ranks without scikit-learn.

The clip is the unit: a clip's segments are not independent draws, so resampling segments would give
intervals far too narrow. A CV run's clips are its out-of-fold predictions, each clip scored once.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

CONFIDENCE = 0.95
_Z = 1.959963984540054  # the standard normal's 97.5% quantile: a two-sided 95% interval
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
    """Accuracy with Wilson's 95% score interval over the clips: unlike a bootstrap's, it does not shrink
    to a point when every clip is right (8 of 8: [0.68, 1], not [1, 1])."""
    n = _clips(true)
    accuracy = float(np.mean(true == predicted))
    centre = (accuracy + _Z ** 2 / (2 * n)) / (1 + _Z ** 2 / n)
    half = _Z * math.sqrt(accuracy * (1 - accuracy) / n + _Z ** 2 / (4 * n * n)) / (1 + _Z ** 2 / n)
    return Interval(accuracy, min(accuracy, max(0.0, centre - half)), max(accuracy, min(1.0, centre + half)))


def _clips(true: np.ndarray) -> int:
    if not len(true):
        raise ValueError("an interval needs at least one clip")
    return len(true)


def balanced_accuracy_interval(true: np.ndarray, predicted: np.ndarray) -> Interval:
    """Balanced accuracy (the mean recall of the genres present) with its 95% bootstrap interval: each
    resample's recall is over the genres that resample holds."""
    n = _clips(true)
    _, genre = np.unique(true, return_inverse=True)
    genres, right = genre.max() + 1, (true == predicted)

    def statistic(rows: np.ndarray) -> np.ndarray:
        offset = (np.arange(len(rows))[:, None] * genres + genre[rows]).ravel()
        support = np.bincount(offset, minlength=len(rows) * genres).reshape(len(rows), genres)
        hits = np.bincount(offset, weights=right[rows].ravel(), minlength=len(rows) * genres).reshape(len(rows), genres)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nanmean(np.where(support > 0, hits / support, np.nan), axis=1)

    return _bootstrap(float(statistic(np.arange(n)[None, :])[0]), statistic, n)


def _bootstrap(value: float, statistic, n: int) -> Interval:
    """Percentile interval of `statistic` over BOOTSTRAP_RESAMPLES resamples of n clips, in chunks that
    keep memory small on large test sets."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    chunk = max(1, min(BOOTSTRAP_RESAMPLES, 2_000_000 // n))
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

    def verdict(self) -> str:
        """The first run against the second: 'tied (p 0.3)', 'below (p 0.004)' or 'above (p 0.01)'."""
        word = "tied" if self.tied else "above" if self.only_first > self.only_second else "below"
        return f"{word} (p {self.p_value:.2g})"


def mcnemar(first_right: np.ndarray, second_right: np.ndarray) -> Comparison:
    """McNemar's exact test on paired outcomes (the same clips, in the same order): of the clips where
    the runs disagree, how likely a split this uneven is if each were as likely to be the right one."""
    only_first = int(np.sum(first_right & ~second_right))
    only_second = int(np.sum(~first_right & second_right))
    n = only_first + only_second
    # the binomial(n, 1/2) tail up to the smaller count, summed in logs: exact, and fast at any n
    log_terms = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
                 for k in range(min(only_first, only_second) + 1)]
    p_value = min(1.0, 2 * math.exp(float(np.logaddexp.reduce(log_terms)))) if n else 1.0
    return Comparison(only_first, only_second, p_value)
