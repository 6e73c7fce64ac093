import json
import shutil

import numpy as np
import pytest

import genre_tf.io.store as store_module
from genre_tf.config import SegmentParams
from genre_tf.core.errors import DatasetError, StoreError
from genre_tf.io.audio import load_audio, split_segments
from genre_tf.io.store import FeatureStore
from genre_tf.workflows.events import FileEvents
from genre_tf.workflows.extract import extract

from .helpers import assert_same_features, compute_feature, sine, write_audio

FAST = ["logmel", "mfcc"]


@pytest.fixture
def dataset(synth_dataset, tmp_path):
    """A private copy of the synthetic dataset, free to damage."""
    return shutil.copytree(synth_dataset, tmp_path / "music")


class Recorder(FileEvents):
    def __init__(self, stop_after=None):
        self.warnings, self.failed, self.done, self.stop_after = [], [], 0, stop_after

    def warn(self, message):
        self.warnings.append(message)

    def clip_failed(self, clip, error):
        self.failed.append(error)

    def clip_done(self, clip, segments):
        self.done += 1
        if self.done == self.stop_after:
            raise KeyboardInterrupt


def test_store_holds_every_segment_with_its_index(dataset, tmp_path):
    result = extract(dataset, tmp_path / "fs", FAST)
    store = FeatureStore(tmp_path / "fs")
    assert result.clips == 9 and result.segments == len(store) == 27  # 3 genres x 3 clips x 3 segments
    assert store.array("logmel").shape == (27, 336, 64) and store.array("logmel").dtype == np.float16
    assert store.array("mfcc").shape == (27, 94, 20) and store.array("mfcc").dtype == np.float32
    assert store.genres == ["ambient", "rock", "techno"]
    assert store.index.clip_ids[:3].tolist() == ["ambient.00000"] * 3 and store.index.segments[:3].tolist() == [0, 1, 2]
    assert isinstance(store.array("mfcc"), np.memmap)
    manifest = json.loads((tmp_path / "fs" / "3s" / "manifest.json").read_text())
    assert manifest["segment_params"]["segment_samples"] == 48000
    assert manifest["features"]["mfcc"]["params"]["n_fft"] == 2048
    assert "tensorflow" in manifest["library_versions"]


def test_store_rows_equal_the_features_of_each_segment(dataset, tmp_path):
    from genre_tf.config import MfccParams

    extract(dataset, tmp_path / "fs", ["mfcc"])
    store = FeatureStore(tmp_path / "fs")
    rows = store.index.rows_of(["rock.00001"])
    segments = split_segments(load_audio(dataset / "rock" / "rock.00001.wav").samples, SegmentParams())
    np.testing.assert_allclose(store.array("mfcc")[rows], compute_feature("mfcc", MfccParams(), segments),
                               rtol=1e-5, atol=1e-4)


def test_rerun_with_same_inputs_does_nothing(dataset, tmp_path):
    extract(dataset, tmp_path / "fs", FAST)
    def data_files():  # the lock file is the extraction's, not the store's data
        return {p.name: p.stat().st_mtime_ns for p in (tmp_path / "fs" / "3s").iterdir() if p.name != ".lock"}

    before = data_files()
    assert extract(dataset, tmp_path / "fs", FAST).up_to_date
    assert data_files() == before


def test_interrupted_run_resumes_and_matches_a_clean_run(dataset, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        extract(dataset, tmp_path / "fs", FAST, events=Recorder(stop_after=4))
    with pytest.raises(StoreError, match="interrupted"):
        FeatureStore(tmp_path / "fs")
    result = extract(dataset, tmp_path / "fs", FAST)
    assert result.reused == 4 and result.extracted == 5
    extract(dataset, tmp_path / "clean", FAST)
    resumed, clean = FeatureStore(tmp_path / "fs"), FeatureStore(tmp_path / "clean")
    assert resumed.index.clip_ids.tolist() == clean.index.clip_ids.tolist()
    for name in FAST:
        assert_same_features(name, resumed.array(name), clean.array(name))  # batches differ
    assert not (tmp_path / "fs" / "3s" / ".partial").exists()


def test_a_crash_while_committing_leaves_the_old_store_intact(dataset, tmp_path, monkeypatch):
    extract(dataset, tmp_path / "fs", ["mfcc"])
    old = np.array(FeatureStore(tmp_path / "fs").array("mfcc"))

    real_write = store_module.write_atomic

    def crash_on_manifest(path, data):
        if path.name == "manifest.json":
            raise OSError("disk full")
        real_write(path, data)

    monkeypatch.setattr(store_module, "write_atomic", crash_on_manifest)
    with pytest.raises(OSError):
        extract(dataset, tmp_path / "fs", ["mfcc", "logmel"])
    assert (tmp_path / "fs" / "3s" / "logmel.2.npy").exists()  # the new generation was written, not committed
    store = FeatureStore(tmp_path / "fs")  # still the old, complete store
    assert store.feature_names == ["mfcc"]
    np.testing.assert_array_equal(store.array("mfcc"), old)
    monkeypatch.undo()
    assert extract(dataset, tmp_path / "fs", ["mfcc", "logmel"]).reused == 9  # the shards were kept
    assert FeatureStore(tmp_path / "fs").feature_names == ["mfcc", "logmel"]


def test_changed_parameters_are_refused_until_rebuild(dataset, tmp_path):
    extract(dataset, tmp_path / "fs", FAST)
    with pytest.raises(StoreError, match="max_seconds: 30.0 -> 6.0.*`rebuild`"):
        extract(dataset, tmp_path / "fs", FAST, SegmentParams(max_seconds=6.0))
    result = extract(dataset, tmp_path / "fs", FAST, SegmentParams(max_seconds=6.0), rebuild=True)
    assert result.segments == 18  # 9 clips x 2 segments of the first 6 s
    assert sorted(p.name for p in (tmp_path / "fs" / "3s").iterdir()) == [".lock", "logmel.2.npy", "manifest.json",
                                                                          "mfcc.2.npy", "segments.2.csv"]


def test_a_new_feature_is_added_without_recomputing_the_others(dataset, tmp_path):
    extract(dataset, tmp_path / "fs", ["mfcc"])
    mfcc = np.array(FeatureStore(tmp_path / "fs").array("mfcc"))
    extract(dataset, tmp_path / "fs", ["logmel"])
    store = FeatureStore(tmp_path / "fs")
    assert store.feature_names == ["mfcc", "logmel"]
    np.testing.assert_array_equal(store.array("mfcc"), mfcc)
    assert sorted(p.name for p in (tmp_path / "fs" / "3s").iterdir()) == [".lock", "logmel.2.npy", "manifest.json",
                                                                          "mfcc.2.npy", "segments.2.csv"]


def test_added_changed_and_removed_clips_update_the_store(dataset, tmp_path):
    extract(dataset, tmp_path / "fs", ["mfcc"])
    (dataset / "rock" / "rock.00002.wav").unlink()
    write_audio(dataset / "rock" / "rock.00009.wav", sine(220, 4.0, 16000), 16000)  # 3 s + 1 s: 1 segment
    write_audio(dataset / "ambient" / "ambient.00000.wav", sine(330, 12.0, 16000), 16000)  # changed: 4 segments
    result = extract(dataset, tmp_path / "fs", ["mfcc"])
    assert result.extracted == 2
    store = FeatureStore(tmp_path / "fs")
    counts = {c: int((store.index.clip_ids == c).sum()) for c in set(store.index.clip_ids)}
    assert "rock.00002" not in counts and counts["rock.00009"] == 1 and counts["ambient.00000"] == 4
    assert len(store) == 27 - 3 + 1 - 3 + 4


def test_bad_files_are_skipped_and_the_run_goes_on(dataset, tmp_path):
    (dataset / "rock" / "empty.wav").write_bytes(b"")
    (dataset / "rock" / "notes.wav").write_text("not audio " * 50)
    write_audio(dataset / "rock" / "quiet.wav", np.zeros(48000, np.float32), 16000)
    (dataset / "rock" / "cover.jpg").write_bytes(b"\xff\xd8")
    (dataset / "jazz").mkdir()
    events = Recorder()
    result = extract(dataset, tmp_path / "fs", ["mfcc"], events=events)
    assert result.clips == 9 and len(result.skipped) == 3
    assert any("empty.wav: empty file" in f for f in events.failed)
    assert any("notes.wav: not a readable audio file" in f for f in events.failed)
    assert any("quiet.wav: silent" in f for f in events.failed)
    assert any("cover.jpg: skipped, not an audio file extension" in w for w in events.warnings)
    assert any("jazz: genre folder has no audio files" in w for w in events.warnings)
    # The same bad files are not retried when nothing changed.
    assert extract(dataset, tmp_path / "fs", ["mfcc"]).up_to_date


def test_nothing_usable_is_an_error(tmp_path):
    (tmp_path / "music" / "rock").mkdir(parents=True)
    (tmp_path / "music" / "rock" / "a.wav").write_bytes(b"")
    with pytest.raises(StoreError, match="no usable clips"):
        extract(tmp_path / "music", tmp_path / "fs", ["mfcc"])
    with pytest.raises(DatasetError, match="does not exist"):
        extract(tmp_path / "nowhere", tmp_path / "fs", ["mfcc"])


def test_real_gtzan_clips_give_the_predicted_segments(gtzan_sample, gtzan_extraction):
    path, result = gtzan_extraction  # embedding (hub YAMNet), logmel, mfcc and musicnn of the 30 clips
    # The rule by hand: trim to 30 s, 3 s segments, a remainder of at least 1.5 s padded into one more.
    lengths = [min(len(load_audio(p).samples), 30 * 16000) for p in gtzan_sample.glob("*/*.wav")]
    predicted = sum(n // 48000 + (n % 48000 >= 24000) for n in lengths)
    store = FeatureStore(path)
    assert predicted == result.segments == len(store) == 214
    assert store.array("embedding").shape == (214, 6, 1024)
    assert store.array("logmel").shape == (214, 336, 64)
    assert store.array("mfcc").shape == (214, 94, 20)
    assert store.array("musicnn").shape == (214, 1706)
    full_length = [c for c in set(store.index.clip_ids) if c.endswith(".00000")]
    assert all((store.index.clip_ids == c).sum() == 10 for c in full_length)


def test_batching_and_decoding_threads_do_not_change_the_features(dataset, tmp_path):
    extract(dataset, tmp_path / "one", FAST, batch_size=1, workers=1)
    extract(dataset, tmp_path / "many", FAST, batch_size=64, workers=3)
    a, b = FeatureStore(tmp_path / "one"), FeatureStore(tmp_path / "many")
    assert a.index.clip_ids.tolist() == b.index.clip_ids.tolist()
    np.testing.assert_allclose(np.asarray(a.array("mfcc")), np.asarray(b.array("mfcc")), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.asarray(a.array("logmel"), np.float32), np.asarray(b.array("logmel"), np.float32),
                               atol=2e-3)  # float16 storage


def test_segment_lengths_live_side_by_side_in_one_store(dataset, tmp_path):
    from genre_tf.config import segment_params

    extract(dataset, tmp_path / "fs", ["logmel"])
    extract(dataset, tmp_path / "fs", ["logmel"], segment_params(6.0))
    assert extract(dataset, tmp_path / "fs", ["logmel"]).up_to_date  # the 6 s store left the 3 s one alone
    three, six = FeatureStore(tmp_path / "fs"), FeatureStore(tmp_path / "fs", 6.0)
    assert three.array("logmel").shape == (27, 336, 64)
    assert six.array("logmel").shape == (9, 624, 64)  # 7.6 s clips: one 6 s segment, 1.6 s dropped
    assert six.manifest.segment_params["segment_samples"] == 96000


def test_a_store_in_the_old_layout_is_named(tmp_path):
    (tmp_path / "fs").mkdir()
    (tmp_path / "fs" / "manifest.json").write_text("{}")
    with pytest.raises(StoreError, match="layout of genre-tf before 0.2.*move its files into .*3s"):
        FeatureStore(tmp_path / "fs")
