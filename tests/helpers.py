"""Test audio made on the fly."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_audio(path: Path, samples: np.ndarray, rate: int, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, rate, subtype=subtype)
    return path


def assert_same_features(name: str, actual, expected) -> None:
    """Equal within what genre-tf promises for a feature computed in another batch (FeatureSpec.tolerance)."""
    import numpy as np

    from genre_tf.features import get_feature

    rtol, atol = get_feature(name).tolerance
    np.testing.assert_allclose(np.asarray(actual, np.float32), np.asarray(expected, np.float32), rtol=rtol, atol=atol,
                               err_msg=f"{name} differs beyond its stated tolerance")


def compute_feature(name: str, params, segments):
    """One feature of a batch of segments in full precision, through the extractor the product uses."""
    from genre_tf.features import make_extractor

    return make_extractor({name: params}, dtype="float32")(segments)[name]


def styled_clips(folder: Path, genres: int, clips: int, seconds: float, seed: int = 0) -> dict[str, list[Path]]:
    """Synthetic music of distinct styles (genre-tf's synth): {genre: its WAV clips}."""
    from genre_tf.workflows.synth import synthesize

    paths = synthesize(folder, genres=genres, clips=clips, seconds=seconds, seed=seed)
    by_genre: dict[str, list[Path]] = {}
    for path in paths:
        by_genre.setdefault(path.parent.name, []).append(path)
    return by_genre


def convert(source: Path, target: Path) -> Path:
    """The clip re-encoded in the format `target` names (.mp3, .flac, .ogg)."""
    samples, rate = sf.read(source, dtype="float32")
    formats = {".mp3": ("MP3", None), ".flac": ("FLAC", None), ".ogg": ("OGG", "VORBIS")}
    kind, subtype = formats[target.suffix]
    target.parent.mkdir(parents=True, exist_ok=True)
    sf.write(target, samples, rate, format=kind, subtype=subtype)
    return target


def tag_genre(path: Path, *genres: str) -> None:
    """Write the genre tag: ID3 TCON (one frame with these values), Vorbis/FLAC GENRE comments, or MP4 ©gen."""
    if path.suffix == ".mp3":
        from mutagen.id3 import ID3, TCON, ID3NoHeaderError

        try:
            tags = ID3(path)
        except ID3NoHeaderError:
            tags = ID3()
        tags.delall("TCON")
        tags.add(TCON(encoding=3, text=list(genres)))
        tags.save(path)
    else:  # Vorbis comments (FLAC, Ogg, Opus) or MP4's ©gen, through mutagen's one `genre` key
        import mutagen

        audio = mutagen.File(path, easy=True)
        audio["genre"] = list(genres)
        audio.save()


def write_fma_tracks(path: Path, rows: list[tuple[int, str | None, str, str]]) -> Path:
    """FMA's tracks.csv as released: a two-row column header (track/set/... over genre_top/split/
    subset/...), the track_id row, then (track id, genre_top, split, subset) per track, with a few of
    the other columns FMA has."""
    import pandas as pd

    columns = pd.MultiIndex.from_tuples([("album", "title"), ("set", "split"), ("set", "subset"),
                                         ("track", "genre_top"), ("track", "title")])
    frame = pd.DataFrame([(f"album {t}", split, subset, genre, f"track {t}") for t, genre, split, subset in rows],
                         index=pd.Index([t for t, *_ in rows], name="track_id"), columns=columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path)
    return path


def metrics_of(probabilities: np.ndarray, classes: np.ndarray, clip_ids: np.ndarray):
    """Segment and clip metrics of test probabilities, as `train` computes them."""
    from genre_tf.training.evaluate import outcome_metrics, outcomes_of

    return outcome_metrics(outcomes_of(probabilities, classes, clip_ids), probabilities.shape[1])


def write_run(runs_dir, name: str, genres: list[str], fold_metrics: list, cv: bool = False,
              fold_clips: list | None = None, model: str = "linear"):
    """A finished run as `train` leaves it around a stand-in model file (no training): one fold folder per
    metrics for a CV run (`cv`); `fold_clips`, each fold's ScoredClips, where it kept them."""
    import zipfile

    from genre_tf.config import TrainConfig
    from genre_tf.io.runs import MODEL_FILE, History, Metrics, RunConfig, RunWriter, StoreRecord
    from genre_tf.io.splits import Split

    history = History(best_epoch=1, monitor="val_loss", epochs_run=1,
                      epochs=[{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5}])
    writer = RunWriter(runs_dir, name)
    for fold, metrics in enumerate(fold_metrics, start=1):
        folder = writer.fold_folder(fold if cv else None)
        writer.write_fold(folder, Split([], [], [], [], [], {}), {}, history, metrics,
                          fold_clips[fold - 1] if fold_clips else None, genres)
        with zipfile.ZipFile(folder / MODEL_FILE, "w") as archive:  # load_run checks that it is a whole archive
            archive.writestr("config.json", "{}")
    config = RunConfig(name=name, train=TrainConfig(inputs=("mfcc",), model=model, cv=len(fold_metrics) if cv else 0,
                                                    augment=()),
                       store=StoreRecord(data="music", segment_params={"sample_rate": 16000, "segment_samples": 48000},
                                         features={}),
                       genres=genres, parameters=1000, train_seconds=1.0)
    return writer.finish(config, Metrics.of_folds(fold_metrics) if cv else None)


def encode_ffmpeg(path: Path, samples: np.ndarray, rate: int, codec: str, stereo: bool = True) -> Path:
    """A real compressed file through FFmpeg's own encoders (PyAV): `codec` aac or alac in .m4a, libopus
    in .opus. Stereo: the samples on the left, half of them on the right."""
    import av

    channels = np.stack([samples, 0.5 * samples]) if stereo else samples[None, :]
    layout = "stereo" if stereo else "mono"
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=48000 if codec == "libopus" else rate)
        stream.layout = layout
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(channels, np.float32), format="fltp", layout=layout)
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=stream.rate)
        for converted in [*resampler.resample(frame), *resampler.resample(None), None]:
            for packet in stream.encode(converted):
                container.mux(packet)
    return path
