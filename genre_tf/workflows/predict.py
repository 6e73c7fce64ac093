"""`genre-tf predict`: label songs of any length with a trained run.

A song's windows are featurized with exactly the parameters the run was trained on, and the model's
probabilities are averaged over windows. Two ways: `Predictor.predict` streams one song (decoded,
resampled and windowed block by block: memory stays bounded whatever its length; the server uses
it); an engine labels many files (library.py), each decoded once by `all_song_windows` and held at
16 kHz, its windows batched with other songs' by the engine and classified by `Classifier`.

Features and models of a batch of windows run in one graph (`Predictor.probabilities`); the
exported model (export.py) is the same function behind a waveform-in signature.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..config import WINDOW_BATCH, EmbeddingParams, SegmentParams
from ..config.audio import MAX_WINDOWS_PER_SECOND
from ..core.errors import AudioError, AudioErrorKind, require
from ..core.tf import tf
from ..features import FEATURES, make_extractor
from ..io.audio import (
    SILENCE_PEAK,
    AudioReader,
    AudioSource,
    check_level,
    iter_windows,
    peak_of,
    spread_windows,
    window_starts,
    window_view,
)
from ..io.prediction_table import Prediction
from ..io.runs import load_run

# The same song's probabilities from batches of other shapes (the exported model: all windows at once;
# a Ray actor: windows of several songs): equal within this, not bit for bit (float sums may round apart).
PROBABILITY_TOLERANCE = 1e-4


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

    def classify(self, windows: np.ndarray) -> np.ndarray:
        """(windows, segment samples) -> (windows, genres).

        Args:
            windows: (windows, segment samples) array of mono audio at the run's rate, in [-1, 1].

        Returns:
            (windows, genres) float32 array of probabilities, in `labels` order.
        """
        return self._probabilities_graph(tf.convert_to_tensor(windows, tf.float32)).numpy()

    def check_hop(self, hop_seconds: float | None) -> None:
        """Refuse a hop `predict` would refuse, before any work.

        Args:
            hop_seconds: seconds between window starts; None: the window length.

        Raises:
            GenreTfError: a hop shorter than 0.1 s or longer than the window.
        """
        check_hop(self.segment, hop_seconds)

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
        self.check_hop(hop_seconds)
        reader = AudioReader(source, limit_seconds)
        duration = max(reader.frames / reader.source_rate, 1e-9)
        starts, probabilities, pending = [], [], []
        for start, window in song_windows(reader, self.segment, hop_seconds):
            starts.append(start)
            pending.append(window)
            if len(pending) == WINDOW_BATCH:
                probabilities.append(self.classify(np.stack(pending)))
                pending = []
                if progress:
                    progress(min(starts[-1] / duration, 1.0))
        if pending:
            probabilities.append(self.classify(np.stack(pending)))
        if not probabilities:
            raise AudioError(reader.name, "contains no audio samples", AudioErrorKind.NO_SAMPLES)
        return Prediction.of_windows(reader.name, self.genres, np.array(starts), np.concatenate(probabilities),
                                     reader.notes)


def check_hop(segment: SegmentParams, hop_seconds: float | None) -> None:
    window, shortest = segment.segment_seconds, 1 / MAX_WINDOWS_PER_SECOND
    require(hop_seconds is None or shortest <= hop_seconds <= window,
            f"`hop_seconds` must be between {shortest:g} s (the cap of {MAX_WINDOWS_PER_SECOND} windows per second "
            f"of audio) and the window length ({window:g} s), not {hop_seconds}")


def check_max_windows(max_windows: int) -> None:
    require(isinstance(max_windows, int) and max_windows >= 0,
            f"`max_windows` must be 0 (every window) or more, not {max_windows}")


def song_windows(reader: AudioReader, segment: SegmentParams,
                 hop_seconds: float | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """(start in seconds, window) over a song: the segment rule for the tail, and a song peaking above
    full scale scaled down as a whole. Streamed, after a cheap first pass for the peak, so that memory
    stays bounded whatever the song's length (`Predictor.predict`, the server)."""
    rate = segment.sample_rate
    gain = check_level(reader.name, reader.peak(rate), reader.notes)
    hop = None if hop_seconds is None else int(round(hop_seconds * rate))
    for start, window in iter_windows((block * gain for block in reader.blocks(rate)), segment, hop):
        yield start / rate, window


def all_song_windows(source: AudioSource, segment: SegmentParams, hop_seconds: float | None = None,
                     max_windows: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A song's window starts (seconds), windows and notes at once: what an engine decodes. Every window
    (`max_windows` 0): the song decoded once and held at the segment rate, its windows a view of it. At most
    `max_windows`, spread over the song (`spread_windows`): each decoded alone by seeking to it where the
    format allows (`AudioReader.windows_at`), else from a whole decode."""
    reader = AudioReader(source)
    rate = segment.sample_rate
    hop = None if hop_seconds is None else int(round(hop_seconds * rate))
    if max_windows:
        length = int(reader.frames * rate // reader.source_rate)  # the header's: a seek stays inside it
        starts = window_starts(length, segment, hop)
        chosen = starts[spread_windows(starts, length, segment, max_windows)]
        windows = reader.windows_at(chosen, segment) if len(chosen) < len(starts) else None
        if windows is not None and peak_of(windows) >= SILENCE_PEAK:
            gain = check_level(reader.name, peak_of(windows), reader.notes)
            return chosen / rate, windows * np.float32(gain) if gain != 1 else windows, reader.notes
    blocks = list(reader.blocks(rate))
    samples = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    if not len(samples):
        raise AudioError(reader.name, "contains no audio samples", AudioErrorKind.NO_SAMPLES)
    gain = check_level(reader.name, peak_of(blocks), reader.notes)
    starts, windows = window_view(samples * np.float32(gain) if gain != 1 else samples, segment, hop)
    chosen = spread_windows(starts, len(samples), segment, max_windows)
    return starts[chosen] / rate, windows[chosen], reader.notes


@dataclasses.dataclass(frozen=True)
class Classifier:
    """An engine's compute for a run: loads the run where it is called (in this process, or in a Ray
    actor: it pickles as the run's path), then windows -> {"probabilities": (windows, genres)}."""

    run_dir: str
    yamnet: EmbeddingParams | None = None

    def __call__(self) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
        predictor = Predictor(self.run_dir, self.yamnet)
        return lambda windows: {"probabilities": predictor.classify(windows)}
