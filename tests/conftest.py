"""Shared fixtures: test audio made on the fly, a small synthetic dataset, and ../shared assets.

Tests that need ../shared skip with a reason when it is absent (a user's clone), and fail instead
when GENRE_TF_REQUIRE_SHARED is set (CI), so CI proves they ran.

What is expensive is made once per session and shared: the synthetic store, the store of the real
clips, runs trained on each (`synth_runs`, `gtzan_runs`) and every registered model x input pair
trained through the CLI (`pair_runs`). Runs are trained on first use, so a selection of tests trains
only what it needs. A test that changes a run or a store works on a copy (`copy_runs`, shutil).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
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
    from genre_tf.workflows.synth import synthesize

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

    from genre_tf.config import EmbeddingParams, segment_params
    from genre_tf.workflows.extract import extract

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
# Each is trained on first use (`gtzan_runs[name]`), 3 epochs in batches of 16 unless stated.
GTZAN_RUNS = {"mfcc-lstm": {"inputs": ("mfcc",), "model": "lstm"},
              "logmel-cnn": {"inputs": ("logmel",), "model": "cnn"},
              "embedding-cnn": {"inputs": ("embedding",), "model": "cnn"},
              "musicnn-mlp": {"inputs": ("musicnn",), "model": "mlp"},
              "combined": {"inputs": ("embedding", "logmel", "mfcc"), "model": "combined"},
              "logmel-cnn-cv": {"inputs": ("logmel",), "model": "cnn", "cv": 2, "epochs": 1}}
GTZAN_DEFAULTS = {"epochs": 3, "batch_size": 16}


GTZAN_FEATURES = ("embedding", "logmel", "mfcc", "musicnn")


@pytest.fixture(scope="session")
def gtzan_extraction(gtzan_sample, yamnet_handle, musicnn_installed, tmp_path_factory):
    """Every feature of the 30 real clips of gtzan-sample (YAMNet through the hub stand-in), by the local
    engine: the one real store of the session (read it, never write it), and extract's result."""
    from genre_tf.config import EmbeddingParams
    from genre_tf.workflows.extract import extract

    store = tmp_path_factory.mktemp("gtzan-store")
    result = extract(gtzan_sample, store, GTZAN_FEATURES, feature_params={"embedding": EmbeddingParams(yamnet_handle)})
    return store, result


@pytest.fixture(scope="session")
def gtzan_store(gtzan_extraction) -> Path:
    return gtzan_extraction[0]


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


# Runs trained once per session on the synthetic store (3 genres x 3 clips), each in a folder of its
# own, besides the model contract's (`pair_runs`, which also serve as the session's plain runs).
SYNTH_RUNS = {
    "mfcc-cnn-cv3": {"inputs": ("mfcc",), "model": "cnn", "cv": 3},
    # A final run on every clip: no test split, validation picks the epoch.
    "mfcc-cnn-final": {"inputs": ("mfcc",), "model": "cnn", "split_ratios": (0.8, 0.2, 0.0)},
}
SYNTH_DEFAULTS = {"epochs": 1, "batch_size": 8}


class TrainedRuns:
    """Runs trained on first use and kept for the session: `runs[name]` is a run folder, trained on
    `store` with `recipes[name]` over `defaults` (TrainConfig's fields)."""

    def __init__(self, store: Path, root: Path, recipes: dict, defaults: dict):
        self.store, self.root, self.recipes, self.defaults, self.made = store, root, recipes, defaults, {}

    def __getitem__(self, name: str) -> Path:
        if name not in self.made:
            from genre_tf.config import TrainConfig
            from genre_tf.workflows.train import train

            self.made[name] = train(TrainConfig(store=str(self.store), runs_dir=str(self.root / name),
                                                **{**self.defaults, **self.recipes[name]})).run_dir
        return self.made[name]


@pytest.fixture(scope="session")
def synth_runs(synth_store, tmp_path_factory) -> TrainedRuns:
    return TrainedRuns(synth_store, tmp_path_factory.mktemp("synth-runs"), SYNTH_RUNS, SYNTH_DEFAULTS)


@pytest.fixture(scope="session")
def gtzan_runs(gtzan_store, tmp_path_factory) -> TrainedRuns:
    return TrainedRuns(gtzan_store, tmp_path_factory.mktemp("gtzan-runs"), GTZAN_RUNS, GTZAN_DEFAULTS)


def copy_runs(runs, folder: Path) -> list[Path]:
    """Copies of finished runs in one runs folder (for `report`, or for a test that changes a run)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copytree(run, folder / run.name)) for run in runs]


# --- every registered model with every input it accepts ------------------------------------------

def _pairs():
    from genre_tf.features import INPUT_PRESETS
    from genre_tf.models import MODELS, input_choices

    # The registry's own list, and the --input presets.
    return [(m, ",".join(i)) for m in MODELS for i in input_choices(m)] + [("combined", p) for p in INPUT_PRESETS]


MODEL_INPUT_PAIRS = _pairs()
# The U-Net trains on the store's 6 s segments; every other model on the usual 3 s.
PAIR_SEGMENT_SECONDS = {"unet": 6.0}
# Small images keep the ImageNet networks quick here (trained from scratch: no download). What each
# pair adds to the command line:
PAIR_OPTIONS = {"resnet50": ["--backbone-weights", "none", "--image-size", "32"],
                "xception": ["--backbone-weights", "none", "--image-size", "71"],
                **{m: ["--segment-seconds", f"{s:g}"] for m, s in PAIR_SEGMENT_SECONDS.items()}}
# The pairs `make check` trains: one input for each model whose one epoch takes less than ~10 s here,
# and the pairs other tests use as their plain runs. CI (`make test`) trains every pair; the others,
# the big networks (resnet50, xception, unet, yamnet) among them, are marked slow.
QUICK_PAIRS = {("lstm", "mfcc"), ("cnn", "mfcc"), ("cnn", "logmel"), ("cnn", "embedding"), ("combined", "nospec"),
               ("cnn5", "logmel"), ("dong", "logmel"), ("linear", "mfcc"), ("linear", "embedding,logmel,mfcc,musicnn"),
               ("mlp", "musicnn"), ("logreg", "musicnn"), ("logreg", "embedding,logmel,mfcc,musicnn")}
# The pairs test_cli's reference-model test reports on (one xdist group, so that they are trained once).
REFERENCE_CLI_MODELS = ("resnet50", "unet")


@dataclasses.dataclass
class PairRun:
    """One pair trained through `genre-tf train`: its run, what the CLI printed, and the test-split
    probabilities that training evaluated with the model in memory (before it was saved)."""

    run_dir: Path
    stdout: str
    stderr: str
    test_probabilities: np.ndarray


class TrainedPairs:
    """`pairs.get(model, inputs, request)`: the pair trained once per session, 1 epoch on batches of 32
    (one batch per split of the synthetic store), through the CLI as a user would. The asking test's
    `request` fetches the assets the pair needs (YAMNet, musicnn), so that it skips without them."""

    def __init__(self, store: Path, root: Path):
        self.store, self.root, self.made = store, root, {}

    def get(self, model: str, inputs: str, request) -> PairRun:
        if (model, inputs) not in self.made:
            self.made[(model, inputs)] = self._train(model, inputs, request)
        return self.made[(model, inputs)]

    def _train(self, model: str, inputs: str, request) -> PairRun:
        from unittest import mock

        from typer.testing import CliRunner

        import genre_tf.workflows.train
        from genre_tf.cli import app
        from genre_tf.models import parse_inputs

        names = parse_inputs(inputs)
        if "embedding" in names:
            request.getfixturevalue("yamnet_handle")
        if "musicnn" in names:
            request.getfixturevalue("musicnn_installed")
        options = list(PAIR_OPTIONS.get(model, []))
        if model == "yamnet":
            options += ["--yamnet-weights", request.getfixturevalue("yamnet_weights")]
        real_outcomes, evaluated = genre_tf.workflows.train.outcomes_of, []

        def outcomes_of(probabilities, *args, **kwargs):  # what training scored, before saving the model
            evaluated.append(probabilities)
            return real_outcomes(probabilities, *args, **kwargs)

        with mock.patch.object(genre_tf.workflows.train, "outcomes_of", outcomes_of):
            result = CliRunner().invoke(app, ["train", "--input", inputs, "--model", model, "--store", str(self.store),
                                              "--runs", str(self.root), "--epochs", "1", "--batch-size", "32",
                                              *options])
        assert result.exit_code == 0, result.output
        run_dir = Path(result.stdout.strip().split("saved in ")[-1])
        return PairRun(run_dir, result.stdout, result.stderr, evaluated[0])


@pytest.fixture(scope="session")
def pair_runs(synth_store, tmp_path_factory) -> TrainedPairs:
    return TrainedPairs(synth_store, tmp_path_factory.mktemp("pair-runs"))
