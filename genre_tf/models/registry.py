"""The model registry: `model` names -> a builder, the features it takes, its training schedule.
Adding a model is adding one entry to MODELS."""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from ..config import ModelOptions
from ..core.errors import GenreTfError, parse_names
from ..features import FEATURES, INPUT_PRESETS
from .heads import build_linear, build_logreg, build_mlp
from .networks import CNN_TRUNK_OF_FEATURE, build_cnn, build_cnn5, build_combined, build_dong, build_lstm, build_unet
from .transfer import BACKBONES, build_transfer, unfreeze_top_blocks
from .yamnet import build_yamnet, unfreeze_yamnet_top

import keras
from keras import layers


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    build: Callable
    description: str
    multi_input: bool  # takes several features at once
    features: tuple[str, ...] = tuple(FEATURES)  # the features it accepts
    augment: tuple[str, ...] = ()  # default --augment
    fine_tune: Callable[[keras.Model], None] | None = None  # second training phase, if any
    # Whether the network starts pretrained (then frozen, and fine-tuned later): transfer models
    # unless --backbone-weights none; the fine-tuned YAMNet always.
    pretrained: Callable[[ModelOptions], bool] = lambda options: False
    normalize: bool = True  # inputs standardized with training statistics; YAMNet takes its own log-mel
    exact: bool = False  # weights from a convex fit (training/exact.py), not from epochs of gradient steps
    refit: bool = False  # default --refit: train again on train+valid for the best epoch's count


SPECTROGRAM = ("logmel",)
SEQUENCES = tuple(CNN_TRUNK_OF_FEATURE)  # features with a time axis (musicnn's is pooled already)
MODELS: dict[str, ModelSpec] = {
    "lstm": ModelSpec(build_lstm, "two BiLSTM layers with batch norm, dense head (fourth seed)", False, SEQUENCES),
    "cnn": ModelSpec(build_cnn, "1-D CNN on embeddings, 2-D CNN on log-mel and MFCC (fourth seed)", False, SEQUENCES),
    "combined": ModelSpec(build_combined, "one CNN branch per input, concatenated into a shared head (fourth seed)",
                          True, SEQUENCES),
    "cnn5": ModelSpec(build_cnn5, "5 conv blocks with batch norm and max-pool, one dense layer (first seed)", False,
                      SPECTROGRAM, augment=("shift", "mask")),
    "dong": ModelSpec(build_dong, "Dong 2018: two conv + max-pool layers, 32-unit dense layer (fifth seed)", False,
                      SPECTROGRAM),
    "unet": ModelSpec(build_unet, "U-Net encoder-decoder, then parallel convolutions (third seed)", False, SPECTROGRAM,
                      augment=("specaugment",)),
    **{name: ModelSpec(functools.partial(build_transfer, name),
                       f"{BACKBONES[name].application} transfer learning on spectrogram images (second seed)", False,
                       SPECTROGRAM, fine_tune=functools.partial(unfreeze_top_blocks, name),
                       pretrained=lambda options: options.pretrained)
       for name in BACKBONES},
    "yamnet": ModelSpec(build_yamnet, "YAMNet fine-tuned: pretrained network on log-mel patches, new head", False,
                        SPECTROGRAM, fine_tune=unfreeze_yamnet_top, pretrained=lambda options: True, normalize=False),
    "linear": ModelSpec(build_linear, "softmax regression with L2 on pooled features (mean and std over time)", True,
                        refit=True),
    "logreg": ModelSpec(build_logreg, "the same softmax regression fit exactly (L-BFGS, L2 chosen by cross-validation "
                        "over the training clips)", True, exact=True),
    "mlp": ModelSpec(build_mlp, "one hidden layer with dropout on pooled features", True, refit=True),
}


def input_choices(name: str) -> list[tuple[str, ...]]:
    """What `name` can train on: each feature it accepts alone and, for a multi-input model, all of
    them at once (the contract test and the training benchmark go through these)."""
    spec = MODELS[name]
    return [(f,) for f in spec.features] + ([spec.features] if spec.multi_input and len(spec.features) > 1 else [])


def parse_inputs(text: str) -> tuple[str, ...]:
    """'embedding', 'all', 'nospec' or a comma list -> feature names."""
    return parse_names(text, "--input", FEATURES, INPUT_PRESETS)


def get_model(name: str, inputs: tuple[str, ...]) -> ModelSpec:
    if name not in MODELS:
        raise GenreTfError(f"unknown `model` '{name}'; choose from {', '.join(MODELS)}")
    spec = MODELS[name]
    if len(inputs) > 1 and not spec.multi_input:
        raise GenreTfError(f"`model` {name} takes one input, not {'+'.join(inputs)}; use `model` combined for several")
    refused = [n for n in inputs if n not in spec.features]
    if refused:
        raise GenreTfError(f"`model` {name} does not take {', '.join(refused)}; it takes {', '.join(spec.features)}")
    return spec


def build_model(name: str, shapes: dict[str, tuple], n_classes: int, normalization: dict | None = None,
                options: ModelOptions = ModelOptions()) -> keras.Model:
    """Inputs named by feature, each normalized with (mean, variance) from the training split, so the
    saved model takes raw features."""
    spec = get_model(name, tuple(shapes))
    raw = {n: keras.Input(shape=s, name=n) for n, s in shapes.items()}
    normalized = {}
    for n, x in raw.items():
        if normalization and spec.normalize:
            mean, variance = normalization[n]
            x = layers.Normalization(mean=mean, variance=variance, name=f"normalize_{n}")(x)
        normalized[n] = x
    return keras.Model(raw, spec.build(normalized, n_classes, options), name=f"{'_'.join(shapes)}-{name}")
