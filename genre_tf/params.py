"""Every parameter of genre-tf and its default, in dataclasses: the audio pipeline, the features,
augmentation, the models' options and training. The CLI takes its defaults from here.

A feature store records the feature parameters in its manifest; a run that asks for different
values finds out before it mixes incompatible arrays. No TensorFlow here: `--help` starts fast.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from .errors import GenreTfError, parse_names, require

YAMNET_HUB_HANDLE = "https://tfhub.dev/google/yamnet/1"
YAMNET_HANDLE_ENV = "GENRE_TF_YAMNET_HANDLE"
YAMNET_WEIGHTS_ENV = "GENRE_TF_YAMNET_WEIGHTS"


@dataclasses.dataclass(frozen=True)
class SegmentParams:
    """How a clip becomes fixed-length segments."""

    sample_rate: int = 16000
    segment_samples: int = 48000  # 3 s at 16 kHz
    max_seconds: float = 30.0
    # A trailing remainder at least this fraction of a segment is zero-padded into one more.
    min_remainder: float = 0.5

    @property
    def segment_seconds(self) -> float:
        return self.segment_samples / self.sample_rate


# The usual segment length (GTZAN's 30 s clips cut in ten); names and labels only mention others.
DEFAULT_SEGMENT_SECONDS = SegmentParams().segment_seconds
# YAMNet frames 0.96 s of audio: shorter segments have no embedding.
MIN_SEGMENT_SECONDS = 1.0


def segment_label(seconds: float) -> str:
    """'6s' for a segment length other than the usual; '' for the usual one."""
    return "" if seconds == DEFAULT_SEGMENT_SECONDS else f"{seconds:g}s"


def segment_params(seconds: float = DEFAULT_SEGMENT_SECONDS, max_seconds: float = 30.0) -> SegmentParams:
    """Segments of `seconds` (3 s by default; the third seed used 6 s, five per 30 s clip)."""
    samples = seconds * SegmentParams.sample_rate
    if seconds < MIN_SEGMENT_SECONDS or abs(samples - round(samples)) > 1e-6:
        raise GenreTfError(f"--segment-seconds must be at least {MIN_SEGMENT_SECONDS:g} and a whole number of "
                           f"samples at {SegmentParams.sample_rate} Hz, not {seconds:g}")
    return SegmentParams(segment_samples=int(round(samples)), max_seconds=max_seconds)


@dataclasses.dataclass(frozen=True)
class LogMelParams:
    """YAMNet's log-mel frontend (tensorflow/models research/audioset/yamnet/params.py)."""

    sample_rate: int = 16000
    stft_window_seconds: float = 0.025
    stft_hop_seconds: float = 0.010
    mel_bands: int = 64
    mel_min_hz: float = 125.0
    mel_max_hz: float = 7500.0
    log_offset: float = 0.001
    patch_window_seconds: float = 0.96
    patch_hop_seconds: float = 0.48
    embedding_size: int = 1024  # YAMNet's embedding: the width of its last layer

    @property
    def patch_frames(self) -> int:
        """Spectrogram frames in one YAMNet patch (96)."""
        return int(round(self.patch_window_seconds / self.stft_hop_seconds))

    @property
    def patch_hop_frames(self) -> int:
        """Frames between YAMNet patches (48)."""
        return int(round(self.patch_hop_seconds / self.stft_hop_seconds))


@dataclasses.dataclass(frozen=True)
class MfccParams:
    sample_rate: int = 16000
    n_mfcc: int = 20
    n_fft: int = 2048
    hop_length: int = 512
    top_db: float = 80.0  # dynamic range of the log-mel power, below each segment's maximum


@dataclasses.dataclass(frozen=True)
class MusicnnParams:
    """musicnn's input (its configuration.py and extractor.py) and which trained model to run."""

    model: str = "MSD_musicnn"  # or MTT_musicnn (the wheel's checkpoints), or a checkpoint folder
    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    log_scale: float = 10000.0  # log10(log_scale * mel + 1)
    patch_frames: int = 187  # 3 s: librosa.time_to_frames(3, sr, hop, n_fft) + 1

    @property
    def min_samples(self) -> int:
        """The shortest waveform that gives one whole patch of centred frames."""
        return (self.patch_frames - 1) * self.hop_length


@dataclasses.dataclass(frozen=True)
class EmbeddingParams:
    """Where YAMNet comes from: with `weights` (a yamnet.h5), genre-tf's own batched Keras network;
    otherwise the TF-Hub model at `handle`, one call per segment (the reference implementation)."""

    handle: str | None = YAMNET_HUB_HANDLE
    weights: str | None = None


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
    # The first seed's spectrum shading: one band of bins and one span of frames hidden.
    mask: MaskParams = MaskParams(freq_masks=1, freq_width=0.15, time_masks=1, time_width=0.1)
    # SpecAugment (Park et al. 2019), its double-mask policy; time warping is left out (its own
    # authors found it the least useful part).
    specaugment: MaskParams = MaskParams(freq_masks=2, freq_width=0.15, time_masks=2, time_width=0.1)


# `--augment` names (augment.py implements each with AugmentParams' values).
AUGMENTATIONS = {
    "shift": "roll the frames in time (first seed)",
    "mask": "spectrum shading: one band of bins and one span of frames hidden (first seed)",
    "specaugment": "SpecAugment: two frequency and two time masks (third seed)",
}


def parse_augment(text: str | None) -> tuple[str, ...] | None:
    """'shift,mask' -> names; 'none' -> none; None (option not given) -> None: the model's default."""
    if text is None:
        return None
    return () if not text.strip() else parse_names(text, "--augment", AUGMENTATIONS, {"none": ()})


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """Options only some builders read: the transfer models' backbone weights and image size, and the
    yamnet model's weights file."""

    backbone_weights: str = "imagenet"  # "imagenet" (downloaded once, then cached), "none", or a file
    image_size: int = 224  # side of the square image a spectrogram is resized to
    yamnet_weights: str | None = None  # yamnet.h5 for the fine-tuned YAMNet (else $GENRE_TF_YAMNET_WEIGHTS)

    @property
    def pretrained(self) -> bool:
        """A pretrained backbone starts frozen and is fine-tuned later; "none" trains from scratch."""
        return self.backbone_weights != "none"


DEFAULT_RATIOS = (0.64, 0.16, 0.20)  # 80/20, then 80/20 of the train part, as the fourth seed did

@dataclasses.dataclass
class TrainConfig:
    inputs: tuple[str, ...]
    model: str
    store: str = "features"
    runs_dir: str = "saved_models"
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

    @property
    def untested(self) -> bool:
        """A final model on all clips: test ratio 0, validation kept for early stopping."""
        return not self.cv and not self.split_lists and self.split_ratios[2] == 0

    def __post_init__(self):
        unknown = [a for a in self.augment or () if a not in AUGMENTATIONS]
        require(not unknown, f"unknown --augment {', '.join(unknown)}; choose from {', '.join(AUGMENTATIONS)}")
        require(self.frozen_epochs >= 1, f"--frozen-epochs must be at least 1, not {self.frozen_epochs}")
        require(self.monitor in ("val_loss", "val_accuracy"),
                f"--monitor must be val_loss or val_accuracy, not '{self.monitor}'")
        for option, value in (("--epochs", self.epochs), ("--batch-size", self.batch_size),
                              ("--patience", self.patience)):
            require(value >= 1, f"{option} must be at least 1, not {value}")
        require(self.learning_rate > 0, f"--lr must be positive, not {self.learning_rate:g}")
        require(self.cv == 0 or self.cv >= 2, f"--cv needs at least 2 folds, not {self.cv}")
        require(not (self.cv and self.split_lists), "--cv makes its own folds; it cannot be combined with --split-lists")
        require(self.options.image_size >= 32, f"--image-size must be at least 32, not {self.options.image_size}")




def resolve_handle(handle: str) -> str:
    """A local path becomes absolute, so a manifest names the same model from any folder."""
    return handle if "://" in handle else str(Path(handle).expanduser().resolve())


EXPORT_FORMATS = ("saved_model", "tflite")

# `--engine`: where extraction and library labelling run: this process, or a Ray cluster.
ENGINES = ("local", "ray")


@dataclasses.dataclass(frozen=True)
class RayParams:
    """`--engine ray`: which cluster, and how the actors that hold a model are placed."""

    address: str | None = None  # a running cluster ("ray://host:10001", "host:6379"); None: $RAY_ADDRESS, else a local Ray
    actors: int | None = None  # model actors; None: one per GPU where they get GPUs, else one per node
    gpus: float | None = None  # GPUs per actor; None: 1 where the cluster has GPUs, else 0
    files_per_task: int = 8  # audio files one decoding task reads

    def __post_init__(self):
        require(self.actors is None or self.actors >= 1, f"--ray-actors must be at least 1, not {self.actors}")
        require(self.gpus is None or self.gpus >= 0, f"--ray-gpus must be 0 or more, not {self.gpus}")


@dataclasses.dataclass(frozen=True)
class ServeParams:
    """`genre-tf serve`: where it listens and what it accepts."""

    host: str = "127.0.0.1"  # this machine only; 0.0.0.0 to share it on a network
    port: int = 7860  # Gradio's, the field's habit for such pages
    max_upload_mb: float = 50.0  # about 5 min of CD-quality WAV, 50 min of 128 kbit/s MP3
    spectrogram_seconds: float = 600.0  # the page draws the log-mel of at most this much of a song


def embedding_params(handle: str | None = None, weights: str | None = None) -> EmbeddingParams:
    """From the options and the environment, first found wins: --yamnet-weights, --yamnet-handle,
    $GENRE_TF_YAMNET_WEIGHTS, $GENRE_TF_YAMNET_HANDLE, the TF-Hub handle."""
    if not handle:
        weights = weights or os.environ.get(YAMNET_WEIGHTS_ENV)
    if weights:
        return EmbeddingParams(handle=None, weights=resolve_handle(weights))
    return EmbeddingParams(handle=resolve_handle(handle or os.environ.get(YAMNET_HANDLE_ENV) or YAMNET_HUB_HANDLE))


def as_dict(params) -> dict:
    return dataclasses.asdict(params)
