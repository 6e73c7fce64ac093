"""Shared fixtures: test audio made on the fly, a small synthetic dataset, and ../shared assets.

Tests that need ../shared skip with a reason when it is absent (a user's clone), and fail instead
when GENRE_TF_REQUIRE_SHARED is set (CI), so CI proves they ran.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def unavailable(what: str, reason: str) -> None:
    """Skip a test whose asset is missing; in CI (GENRE_TF_REQUIRE_SHARED set) fail instead."""
    if os.environ.get("GENRE_TF_REQUIRE_SHARED"):
        pytest.fail(f"{what} is required in CI (GENRE_TF_REQUIRE_SHARED is set) but missing")
    pytest.skip(f"{what}: {reason}")


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        unavailable(str(path), "these assets live in ../shared beside the checkout")
    return path


@pytest.fixture(scope="session")
def yamnet_handle() -> str:
    return str(shared_path("models", "yamnet", "savedmodel"))


@pytest.fixture(scope="session")
def gtzan_sample() -> Path:
    return shared_path("data", "gtzan-sample")


@pytest.fixture(scope="session")
def gtzan_split_lists() -> Path:
    return shared_path("data", "gtzan_split")


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory) -> Path:
    """3 genres x 3 clips of 7.6 s: 3 segments each (two full, and the 1.6 s remainder padded)."""
    from genre_tf.synth import synthesize

    root = tmp_path_factory.mktemp("synth") / "music"
    synthesize(root, genres=3, clips=3, seconds=7.6, seed=1)
    return root


@pytest.fixture(scope="session")
def synth_store(synth_dataset, tmp_path_factory) -> Path:
    """A feature store of the synthetic dataset: logmel and mfcc, plus embedding where the YAMNet
    stand-in is available and musicnn where its wheel is installed (tests that need them ask for
    `yamnet_handle` / `musicnn_installed` and skip without them); and logmel of 6 s segments (one per
    clip: the 1.6 s remainder is under half a segment)."""
    import importlib.util

    from genre_tf.extract import extract
    from genre_tf.params import EmbeddingParams, segment_params

    store = tmp_path_factory.mktemp("store")
    features = ["logmel", "mfcc"]
    handle = SHARED / "models" / "yamnet" / "savedmodel"
    if handle.exists():
        features.insert(0, "embedding")
    if importlib.util.find_spec("musicnn"):
        features.append("musicnn")
    extract(synth_dataset, store, features, feature_params={"embedding": EmbeddingParams(str(handle))})
    extract(synth_dataset, store, ["logmel"], segment_params(6.0))
    return store


@pytest.fixture(scope="session")
def yamnet_weights() -> str:
    return str(shared_path("models", "yamnet", "yamnet.h5"))


@pytest.fixture(scope="session")
def musicnn_installed() -> None:
    """musicnn's trained weights come from its wheel (`make install` puts it in .venv)."""
    import importlib.util

    if importlib.util.find_spec("musicnn") is None:
        unavailable("musicnn's wheel", "not installed; make install installs it (pip install --no-deps musicnn==0.1.0)")


# Runs trained on the 30 real clips of gtzan-sample (10 genres), one per input kind, for the tests of
# export and serve: models that have seen real music give unsaturated probabilities on it.
GTZAN_RUNS = {"mfcc-lstm": (("mfcc",), "lstm", {}), "logmel-cnn": (("logmel",), "cnn", {}),
              "embedding-cnn": (("embedding",), "cnn", {}), "musicnn-mlp": (("musicnn",), "mlp", {}),
              "combined": (("embedding", "logmel", "mfcc"), "combined", {}),
              "logmel-cnn-cv": (("logmel",), "cnn", {"cv": 2, "epochs": 1})}


GTZAN_FEATURES = ("embedding", "logmel", "mfcc", "musicnn")


@pytest.fixture(scope="session")
def gtzan_store(gtzan_sample, yamnet_handle, musicnn_installed, tmp_path_factory) -> Path:
    """Every feature of the 30 real clips of gtzan-sample (YAMNet through the hub stand-in), by the local engine."""
    from genre_tf.extract import extract
    from genre_tf.params import EmbeddingParams

    store = tmp_path_factory.mktemp("gtzan-store")
    extract(gtzan_sample, store, GTZAN_FEATURES, feature_params={"embedding": EmbeddingParams(yamnet_handle)})
    return store


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray of 2 CPUs for the whole session (starting one takes seconds); `--engine ray` uses the
    Ray its caller started. Ray is an extra: where it is missing the test skips, and in CI
    (GENRE_TF_REQUIRE_RAY set) it fails instead."""
    try:
        import ray
    except ImportError:
        if os.environ.get("GENRE_TF_REQUIRE_RAY"):
            pytest.fail("Ray is required in CI (GENRE_TF_REQUIRE_RAY is set) but not installed")
        pytest.skip("Ray is not installed (pip install 'genre-tf[ray]'; make install installs it)")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=1 << 30)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def gtzan_runs(gtzan_store, tmp_path_factory) -> dict[str, Path]:
    from genre_tf.train import TrainConfig, train

    store = gtzan_store
    root = tmp_path_factory.mktemp("gtzan-runs")
    return {name: train(TrainConfig(inputs=inputs, model=model, store=str(store), runs_dir=str(root / name),
                                    batch_size=16, **{"epochs": 3, **extra})).run_dir
            for name, (inputs, model, extra) in GTZAN_RUNS.items()}
