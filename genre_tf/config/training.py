"""Training: the split, the optimizer's schedule, augmentation and the options some models read."""
from __future__ import annotations

import dataclasses
import math

from ..core.errors import parse_names, require
from .audio import DEFAULT_SEGMENT_SECONDS
from .runtime import DEFAULT_RUNS, DEFAULT_STORE


@dataclasses.dataclass(frozen=True)
class MaskParams:
    """Masks over a (time, bins) array: how many, and the widest as a fraction of the axis."""

    freq_masks: int
    freq_width: float
    time_masks: int
    time_width: float


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """On-the-fly augmentation of training batches (`--augment`)."""

    # Time shift: roll the frames by up to this fraction of their number, either way.
    shift_fraction: float = 0.2
    # The first reference project's spectrum shading: one band of bins and one span of frames hidden.
    mask: MaskParams = MaskParams(freq_masks=1, freq_width=0.15, time_masks=1, time_width=0.1)
    # SpecAugment (Park et al. 2019), its double-mask policy; time warping is left out (its own
    # authors found it the least useful part).
    specaugment: MaskParams = MaskParams(freq_masks=2, freq_width=0.15, time_masks=2, time_width=0.1)


# `augment` names (training/augment.py implements each with AugmentParams' values).
AUGMENTATIONS = {
    "shift": "roll the frames in time (first reference project)",
    "mask": "spectrum shading: one band of bins and one span of frames hidden (first reference project)",
    "specaugment": "SpecAugment: two frequency and two time masks (third reference project)",
}


def parse_augment(text: str | None) -> tuple[str, ...] | None:
    """--augment's text: 'shift,mask' -> names; 'none' -> none; None (not given) -> None: the model's default."""
    if text is None:
        return None
    return () if not text.strip() else parse_names(text, "--augment", AUGMENTATIONS, {"none": ()})


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """Options only some builders read: the transfer models' backbone weights and image size, and the
    yamnet model's weights file.

    Attributes:
        backbone_weights: resnet50/xception: "imagenet" (downloaded once, then cached), "none" (trained from
            scratch), or a weights file.
        image_size: resnet50/xception: side in pixels of the square image a spectrogram is resized to.
        yamnet_weights: the yamnet model: its yamnet.h5; None: $GENRE_TF_YAMNET_WEIGHTS.

    Raises:
        GenreTfError: `image_size` is below 32.
    """

    backbone_weights: str = "imagenet"  # "imagenet" (downloaded once, then cached), "none", or a file
    image_size: int = 224  # side of the square image a spectrogram is resized to
    yamnet_weights: str | None = None  # yamnet.h5 for the fine-tuned YAMNet (else $GENRE_TF_YAMNET_WEIGHTS)

    def __post_init__(self):
        require(self.image_size >= 32, f"`image_size` must be at least 32, not {self.image_size}")

    @property
    def pretrained(self) -> bool:
        """A pretrained backbone starts frozen and is fine-tuned later; "none" trains from scratch."""
        return self.backbone_weights != "none"


DEFAULT_RATIOS = (0.64, 0.16, 0.20)  # 80/20, then 80/20 of the train part, as the fourth reference project did
# `split_lists` for a random split (by `split_ratios`) where the default would be the labels' own.
RANDOM_SPLIT = "random"
# Fine-tuning a pretrained backbone (transfer, yamnet): its top blocks at a tenth of the learning rate.
FINE_TUNE_LR_FACTOR = 0.1
# Batches of training data over which batch-norm statistics are measured before each validation.
PRECISE_BN_BATCHES = 50
# A refit on train+valid runs the best epoch's count times this (measured on real clips: docs/results.md).
REFIT_EPOCH_SCALE = 1.0


@dataclasses.dataclass(frozen=True)
class ExactFitParams:
    """The exact linear head (`logreg`): L-BFGS logistic regression, its inverse L2 strength C chosen
    from `cs` by cross-validation over the training clips (`inner_folds`, grouped by clip) on held-out
    log loss, then refit on them all."""

    cs: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)
    inner_folds: int = 5
    max_iter: int = 2000
    tol: float = 1e-4  # L-BFGS' gradient tolerance (scikit-learn's default)


@dataclasses.dataclass
class TrainConfig:
    """Everything `train` needs: what to train on, which model, how, and where the run goes. The defaults are
    those of `genre-tf train`.

    Attributes:
        inputs: the store's features the model takes (`FEATURES` names): one, or several for a multi-input
            model (combined, linear, logreg, mlp).
        model: a name of `MODELS`.
        store: the feature store folder.
        runs_dir: the folder the run is saved in, as <runs_dir>/<name>/.
        epochs: the most epochs; the best by `monitor` is kept.
        batch_size: segments per training batch.
        seed: seeds Python, NumPy, TensorFlow and the split; between 0 and 2**32 - 1.
        learning_rate: Adam's learning rate.
        class_weights: weight classes inversely to their frequency in the training clips.
        monitor: val_loss or val_accuracy: which epoch is "best".
        patience: early stopping: epochs without improvement of `monitor`.
        split_ratios: train, valid and test fractions of the clips, per genre, for a random split; a test
            fraction of 0 (without `cv` or lists) makes an untested final run.
        split_lists: a folder of train*/valid*/test*.txt clip lists, a built-in split (gtzan-filtered), "labels"
            or "fma" (the split the store's labels carry), or "random"; None: the labels' split where they carry
            one, else a random one by `split_ratios`.
        cv: K-fold cross-validation over clips, stratified by genre, when at least 2; 0: off.
        mixed_precision: float16 compute; None: on where there is a GPU.
        segment_seconds: which of the store's segment lengths to train on.
        augment: training-batch augmentations (shift, mask, specaugment; () for none); None: the model's
            default.
        options: what some builders read: backbone weights, image size, yamnet.h5.
        frozen_epochs: pretrained models (transfer, yamnet): epochs with the backbone frozen before its top
            blocks are fine-tuned at a tenth of `learning_rate`.
        refit: after the best epoch is found on the valid clips, train again on train+valid for that many epochs
            (the test clips are never seen); None: the model's default (on for linear and mlp).

    Raises:
        GenreTfError: a value out of range, an unknown augmentation or `monitor`, or `cv` with `split_lists`.
    """

    inputs: tuple[str, ...]
    model: str
    store: str = DEFAULT_STORE
    runs_dir: str = DEFAULT_RUNS
    epochs: int = 30
    batch_size: int = 64
    seed: int = 0
    learning_rate: float = 1e-3
    class_weights: bool = False
    monitor: str = "val_loss"  # or val_accuracy: which epoch is "best"
    patience: int = 8  # early stopping: epochs without improvement of `monitor`
    split_ratios: tuple[float, float, float] = DEFAULT_RATIOS
    split_lists: str | None = None
    cv: int = 0  # K-fold cross-validation over clips when > 1
    mixed_precision: bool | None = None  # None: on where there is a GPU
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS  # which of the store's segment lengths to train on
    augment: tuple[str, ...] | None = None  # training-batch augmentations; None: the model's default
    options: ModelOptions = ModelOptions()  # what some builders read: backbone weights, image size, yamnet.h5
    frozen_epochs: int = 5  # pretrained models (transfer, yamnet): epochs before fine-tuning
    # After the best epoch is found on the valid clips, train again on train+valid for that many epochs
    # (the test clips are never seen); None: the model's default (models/registry.py).
    refit: bool | None = None

    @property
    def untested(self) -> bool:
        """A final model on all clips: test ratio 0, validation kept for early stopping."""
        return not self.cv and self.split_lists in (None, RANDOM_SPLIT) and self.split_ratios[2] == 0

    def __post_init__(self):
        unknown = [a for a in self.augment or () if a not in AUGMENTATIONS]
        require(not unknown, f"unknown `augment` {', '.join(unknown)}; choose from {', '.join(AUGMENTATIONS)}")
        require(self.frozen_epochs >= 1, f"`frozen_epochs` must be at least 1, not {self.frozen_epochs}")
        require(self.monitor in ("val_loss", "val_accuracy"),
                f"`monitor` must be val_loss or val_accuracy, not '{self.monitor}'")
        for argument, value in (("epochs", self.epochs), ("batch_size", self.batch_size), ("patience", self.patience)):
            require(value >= 1, f"`{argument}` must be at least 1, not {value}")
        require(math.isfinite(self.learning_rate) and self.learning_rate > 0,
                f"`learning_rate` must be a positive number, not {self.learning_rate:g}")
        require(self.cv == 0 or self.cv >= 2, f"`cv` needs at least 2 folds, not {self.cv}")
        require(0 <= self.seed < 2 ** 32, f"`seed` must be between 0 and 2**32 - 1, not {self.seed}")
        require(not (self.cv and self.split_lists),
                "`cv` makes its own folds; it cannot be combined with `split_lists`")
