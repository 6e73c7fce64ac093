"""The exact linear head (`logreg`): a logistic regression fit by L-BFGS on the pooled, standardized
vector the Keras model computes, its L2 strength chosen by cross-validation over the training clips
(grouped by clip, so a clip's segments are never on both sides), and written into the model's softmax
layer. The saved model is an ordinary Keras model: predict, export and serve take it unchanged.

Gradient steps on the same model (`linear`) stop wherever early stopping says, at a fixed L2; the
convex problem has one optimum, which L-BFGS finds, and the strength is chosen on held-out clips."""
from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np

from ..config import ExactFitParams
from ..core.errors import require
from ..io.runs import ExactFitRecord

import keras

# The logit of a genre the training clips do not have: it is never predicted.
ABSENT_LOGIT = -1e4


def softmax_layer(model: keras.Model) -> keras.layers.Dense:
    return model.get_layer("genre")


def pooled_vectors(model: keras.Model, dataset) -> np.ndarray:
    """What the softmax layer sees, for every example of `dataset` in order (float64, for the fit)."""
    head_input = keras.Model(model.inputs, softmax_layer(model).input)
    return np.concatenate([np.asarray(head_input(features, training=False), np.float64) for features, _ in dataset])


def _inner_folds(classes: np.ndarray, groups: np.ndarray, params: ExactFitParams, seed: int) -> list:
    """Folds over clips, stratified by genre; as many as the smallest genre's clips allow (at least 2)."""
    from sklearn.model_selection import StratifiedGroupKFold

    clip_classes = dict(zip(groups.tolist(), classes.tolist()))
    smallest = min(np.unique(list(clip_classes.values()), return_counts=True)[1])
    folds = max(2, min(params.inner_folds, int(smallest)))
    with warnings.catch_warnings():  # a genre with fewer clips than folds: some folds lack it, as intended
        warnings.simplefilter("ignore", UserWarning)
        return list(StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(classes, classes, groups))


def _classifier(c: float, params: ExactFitParams, class_weights: bool):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=params.max_iter, tol=params.tol, warm_start=True,
                              class_weight="balanced" if class_weights else None)


def _log_loss(classifier, x: np.ndarray, classes: np.ndarray) -> float:
    """Mean cross-entropy; a genre the classifier never saw has probability 0 (clipped to 1e-15)."""
    probabilities = np.zeros((len(x), max(int(classes.max()), int(classifier.classes_.max())) + 1))
    probabilities[:, classifier.classes_] = classifier.predict_proba(x)
    return float(-np.mean(np.log(np.maximum(probabilities[np.arange(len(x)), classes], 1e-15))))


def choose_c(x: np.ndarray, classes: np.ndarray, groups: np.ndarray, params: ExactFitParams, seed: int,
             class_weights: bool) -> tuple[float, list[float], int]:
    """The C of `params.cs` with the lowest mean held-out log loss over inner folds of clips; the mean
    loss of each C; the number of folds. Each fold walks the Cs from the strongest L2 up, warm-started."""
    folds = _inner_folds(classes, groups, params, seed)
    cs = sorted(params.cs)
    losses = np.zeros((len(folds), len(cs)))
    for k, (fit_rows, held_rows) in enumerate(folds):
        classifier = _classifier(cs[0], params, class_weights)
        for j, c in enumerate(cs):
            classifier.set_params(C=c)
            with warnings.catch_warnings():  # an unconverged weak-L2 fit is still scored, and loses
                warnings.simplefilter("ignore")
                classifier.fit(x[fit_rows], classes[fit_rows])
            losses[k, j] = _log_loss(classifier, x[held_rows], classes[held_rows])
    mean = losses.mean(0)
    return float(cs[int(np.argmin(mean))]), mean.tolist(), len(folds)


def softmax_weights(classifier, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's (kernel, bias) for a softmax over all `n_classes`: a binary fit's one logit
    becomes [0, z] (softmax([0, z]) is its sigmoid), and genres it never saw get ABSENT_LOGIT."""
    coef, intercept = classifier.coef_, classifier.intercept_
    if len(classifier.classes_) == 2:
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    kernel = np.zeros((coef.shape[1], n_classes), np.float32)
    bias = np.full(n_classes, ABSENT_LOGIT, np.float32)
    kernel[:, classifier.classes_] = coef.T
    bias[classifier.classes_] = intercept
    return kernel, bias


@dataclasses.dataclass
class ExactFit:
    """The fitted scikit-learn classifier, on the values of the pooled vector that vary (`used`)."""

    classifier: object
    used: np.ndarray
    n_classes: int

    def probabilities(self, pooled: np.ndarray) -> np.ndarray:
        """scikit-learn's own probabilities for pooled vectors, over all genres (what the Keras model must give)."""
        out = np.zeros((len(pooled), self.n_classes))
        out[:, self.classifier.classes_] = self.classifier.predict_proba(pooled[:, self.used])
        return out


def fit_exact(model: keras.Model, dataset, classes: np.ndarray, groups: np.ndarray, params: ExactFitParams,
              seed: int, class_weights: bool = False) -> tuple[ExactFit, ExactFitRecord]:
    """Fit `model`'s softmax layer exactly on `dataset` (unshuffled; `classes` and clip ids `groups` per
    example, in its order). Returns the fit and its record for history.json."""
    started = time.perf_counter()
    pooled = pooled_vectors(model, dataset)
    require(np.isfinite(pooled).all(), "the training segments' features hold NaN or infinite values: nothing to fit; "
                                       "extract the store again with `rebuild`")
    # Values constant over the training clips are 0 once standardized (musicnn has hundreds of dead
    # units): they take no weight, so the fit leaves them out and runs that much faster.
    used = np.flatnonzero(pooled.std(0) > 0)
    x = pooled[:, used]
    c, losses, folds = choose_c(x, classes, groups, params, seed, class_weights)
    classifier = _classifier(c, params, class_weights)
    classifier.set_params(warm_start=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classifier.fit(x, classes)
    kernel, bias = softmax_weights(classifier, softmax_layer(model).units)
    full_kernel = np.zeros((pooled.shape[1], kernel.shape[1]), np.float32)
    full_kernel[used] = kernel
    softmax_layer(model).set_weights([full_kernel, bias])
    record = ExactFitRecord(c=c, cs=sorted(params.cs), inner_cv_log_loss=losses, inner_folds=folds,
                            iterations=int(np.max(classifier.n_iter_)),
                            converged=bool(np.max(classifier.n_iter_) < params.max_iter),
                            train_loss=_log_loss(classifier, x, classes),
                            train_accuracy=float(np.mean(classifier.predict(x) == classes)),
                            examples=len(x), values=pooled.shape[1], values_used=len(used),
                            seconds=time.perf_counter() - started)
    return ExactFit(classifier, used, softmax_layer(model).units), record
