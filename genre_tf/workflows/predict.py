"""`genre-tf predict` with TensorFlow: a trained run's features and model(s) as one TF graph.

A song's windows are featurized with exactly the parameters the run was trained on, and the model's
probabilities are averaged over windows (songs.py: one song streamed by `label_song`, many through an
engine's `Classifier`). Where the run converts, litert.py runs this same graph as LiteRT, without
TensorFlow.

Features and models of a batch of windows run in one graph (`Predictor.probabilities`); the
exported model (export.py) is the same function behind a waveform-in signature.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..config import EmbeddingParams
from ..core.tf import tf
from ..features import FEATURES, make_extractor
from ..io.prediction_table import Prediction
from ..io.runs import load_run
from .songs import label_song


class Predictor:
    """A trained run, ready to label audio.

    Its windows are featurized with exactly the parameters the run was trained on; a cross-validation run
    predicts with all its fold models, the mean of their probabilities.

    Attributes:
        run: the run, as `load_run` reads it.
        segment: the run's segment parameters: a window's length and rate.
        extractor: the run's features as TF ops (`make_extractor`).
        models: the run's Keras models, one per fold.
    """

    def __init__(self, run_dir: str | Path, yamnet: EmbeddingParams | None = None):
        """Load the run: its model(s) and the networks its features need.

        Args:
            run_dir: the run's folder (`TrainResult.run_dir`, `Report.best.path`).
            yamnet: replaces the YAMNet source the run was trained with (moved or unreachable); None: the
                run's own.

        Raises:
            GenreTfError: not a finished run, or a damaged one.
            ModelUnavailableError: YAMNet or musicnn's weights cannot be loaded.
        """
        from .. import models  # noqa: F401  (TensorFlow first, quietly; registers genre-tf's own layers)

        import keras

        self.run = load_run(run_dir)
        self.segment = self.run.segment
        params = {name: FEATURES[name].params_class(**self.run.feature_params(name)) for name in self.run.inputs}
        if "embedding" in params and yamnet:
            params["embedding"] = yamnet
        self.extractor = make_extractor(params)
        # A cross-validation run predicts with all its fold models: the mean of their probabilities.
        self.models = [keras.models.load_model(path) for path in self.run.model_files]
        self._probabilities_graph = tf.function(
            self.probabilities, input_signature=[tf.TensorSpec((None, self.segment.segment_samples), tf.float32)])

    @property
    def genres(self) -> list[str]:
        """The genre names in the order of the probabilities."""
        return self.run.genres

    def probabilities(self, windows: tf.Tensor) -> tf.Tensor:
        """TF ops: (windows, segment samples) -> (windows, genres), the mean over the run's models.

        Args:
            windows: (windows, segment samples) float32 tensor of mono audio at the run's rate.

        Returns:
            (windows, genres) float32 tensor of probabilities.
        """
        inputs = self.extractor.model_inputs(windows)
        return tf.reduce_mean(tf.stack([model(inputs, training=False) for model in self.models]), axis=0)

    def probabilities_function(self):
        """`probabilities` as one TF graph for any number of windows (what litert.py converts).

        Returns:
            (ConcreteFunction): (None, segment samples) float32 windows -> (None, genres) float32 probabilities.
        """
        return self._probabilities_graph.get_concrete_function()

    def classify(self, windows: np.ndarray) -> np.ndarray:
        """(windows, segment samples) -> (windows, genres).

        Args:
            windows: (windows, segment samples) array of mono audio at the run's rate, in [-1, 1].

        Returns:
            (windows, genres) float32 array of probabilities, in `genres` order.
        """
        return self._probabilities_graph(tf.convert_to_tensor(windows, tf.float32)).numpy()

    def predict(self, source, hop_seconds: float | None = None,
                progress: Callable[[float], None] | None = None, limit_seconds: float | None = None) -> Prediction:
        """Probabilities per window (one every `hop_seconds`; default: the window length) and their mean.
        `progress` is called with the fraction of the song done after each batch of windows (an exception
        it raises stops the work: a server's cancellation). A song longer than `limit_seconds` is refused.

        The song is decoded, resampled and windowed block by block, so memory stays bounded whatever its length.
        Every window is labelled (`label_songs` labels a song from a few).

        Args:
            source (str | os.PathLike | BinaryIO): a path, or a binary file object, of a supported audio format.
            hop_seconds: seconds between window starts, from 0.1 s to the window length; None: the window length
                (no overlap).
            progress: called with the fraction of the song done (0 to 1) after each batch of windows.
            limit_seconds: the longest song accepted, in seconds; None: no limit.

        Returns:
            The song's prediction: each window's probabilities and their mean.

        Raises:
            GenreTfError: a hop out of range.
            AudioError: a file that yields no usable music, or one longer than `limit_seconds`.
        """
        return label_song(self.classify, self.segment, self.genres, source, hop_seconds, progress, limit_seconds)
