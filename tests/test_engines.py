"""The engine interface on its local implementation: windows batched across files, files back in
order, a bad file reported and the others done; and the window view a song is cut into."""
import numpy as np
import pytest

from genre_tf.config import SegmentParams
from genre_tf.core.errors import GenreTfError
from genre_tf.engines import LocalEngine, make_engine
from genre_tf.io.audio import iter_windows, window_view

SAMPLES = 4


def decode(path: str):
    """'<n>' -> n windows whose samples are all the file's number and the window's index; 'bad' fails."""
    if path == "bad":
        raise ValueError("cannot decode")
    n = int(path)
    windows = np.array([[n * 100 + k] * SAMPLES for k in range(n)], np.float32)
    return np.arange(n) * 3.0, windows, [f"note {n}"]


def test_windows_are_batched_across_files_and_files_come_back_in_order():
    batches = []

    def compute():
        def model(windows):
            batches.append(len(windows))
            return {"first": windows[:, 0].copy(), "twice": 2 * windows}
        return model

    paths = ["3", "1", "bad", "5", "2", "7"]
    with LocalEngine(workers=2).map_windows(paths, decode, compute, batch_size=4, samples=SAMPLES) as finished:
        done = list(finished)
    assert [d.item for d in done] == list(range(len(paths)))
    assert batches == [4, 4, 4, 4, 2]  # 18 windows of five files, in batches that span files
    for d, path in zip(done, paths):
        if path == "bad":
            assert d.error == "bad: failed (ValueError: cannot decode)" and d.arrays == {}
            continue
        n = int(path)
        assert d.error is None and d.notes == [f"note {n}"]
        np.testing.assert_array_equal(d.arrays["first"], [n * 100 + k for k in range(n)])
        np.testing.assert_array_equal(d.starts, np.arange(n) * 3.0)
        assert d.arrays["twice"].shape == (n, SAMPLES)


def test_no_files_load_no_model():
    def compute():
        raise AssertionError("loaded")

    with LocalEngine().map_windows([], decode, compute, 4, SAMPLES) as finished:
        assert list(finished) == []


def test_an_engine_is_picked_by_name_and_refused_by_name():
    assert make_engine("local").name == "local"
    with pytest.raises(GenreTfError, match="`engine` must be local or ray, not 'spark'"):
        make_engine("spark")
    with pytest.raises(GenreTfError, match="`workers` must be at least 1, not 0"):
        make_engine("local", workers=0)


@pytest.mark.parametrize("length", [1, 7, 8, 11, 12, 13, 15, 16, 40, 41])
@pytest.mark.parametrize("hop", [None, 1, 3, 8])
def test_the_window_view_equals_the_streamed_windows(length, hop):
    params = SegmentParams(sample_rate=8, segment_samples=8)
    samples = np.arange(1, length + 1, dtype=np.float32)
    streamed = list(iter_windows([samples[:5], samples[5:]], params, hop))
    starts, windows = window_view(samples, params, hop)
    assert list(starts) == [s for s, _ in streamed]
    np.testing.assert_array_equal(windows, np.stack([w for _, w in streamed]))
