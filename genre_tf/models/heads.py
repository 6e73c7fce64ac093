"""Heads for small collections: few weights over pooled, pretrained features, strongly regularized."""
from __future__ import annotations

from ..config import ModelOptions
from .layers import MeanStdPooling, Standardize

from keras import layers, regularizers


def pooled(inputs: dict):
    """Every input as one vector per segment, concatenated and standardized."""
    vectors = [MeanStdPooling(name=f"pool_{name}")(x) for name, x in inputs.items()]
    x = layers.Concatenate()(vectors) if len(vectors) > 1 else vectors[0]
    return Standardize(name="standardize")(x)


LINEAR_L2 = 1e-2
MLP_UNITS, MLP_DROPOUT, MLP_L2 = 256, 0.5, 1e-3


def build_linear(inputs: dict, n_classes: int, options: ModelOptions):
    """Softmax regression with L2 on the pooled inputs."""
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="genre",
                        kernel_regularizer=regularizers.l2(LINEAR_L2))(pooled(inputs))


def build_logreg(inputs: dict, n_classes: int, options: ModelOptions):
    """Softmax regression on the pooled inputs, its weights set by an exact convex fit (training/exact.py)
    rather than by gradient steps: no regularizer here, the fit chooses its own L2 strength."""
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="genre")(pooled(inputs))


def build_mlp(inputs: dict, n_classes: int, options: ModelOptions):
    """One hidden layer with dropout on the pooled inputs."""
    x = layers.Dropout(MLP_DROPOUT / 2)(pooled(inputs))
    x = layers.Dense(MLP_UNITS, activation="relu", kernel_regularizer=regularizers.l2(MLP_L2))(x)
    x = layers.Dropout(MLP_DROPOUT)(x)
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="genre",
                        kernel_regularizer=regularizers.l2(MLP_L2))(x)
