import pytest

from genre_tf.core.errors import SplitError
from genre_tf.io.splits import Split, parse_ratios, random_split, split_from_lists


def clips(genres=3, per_genre=20):
    return {f"g{g}.{k:05d}": f"g{g}" for g in range(genres) for k in range(per_genre)}


def test_random_split_is_disjoint_complete_stratified_and_seeded():
    c = clips()
    split = random_split(c, (0.64, 0.16, 0.20), seed=3)
    parts = [set(split.train), set(split.valid), set(split.test)]
    assert set.union(*parts) == set(c) and sum(map(len, parts)) == len(c)
    for genre in ("g0", "g1", "g2"):  # 20 clips per genre: 13/3/4 (largest remainder of 12.8/3.2/4)
        assert [sum(c[i] == genre for i in p) for p in parts] == [13, 3, 4]
    assert random_split(c, seed=3) == split
    assert random_split(c, seed=4).test != split.test
    assert split.source == {"kind": "random", "ratios": [0.64, 0.16, 0.20], "seed": 3}


def test_the_fifth_seeds_50_20_30_split_of_gtzan():
    split = random_split(clips(genres=10, per_genre=100), parse_ratios("0.5,0.2,0.3"), seed=0)
    assert (len(split.train), len(split.valid), len(split.test)) == (500, 200, 300)
    assert sum(c.startswith("g7.") for c in split.test) == 30  # 30 of each genre's 100


def test_tiny_genres_still_appear_in_every_split():
    split = random_split(clips(genres=10, per_genre=3))
    assert len(split.train) == len(split.valid) == len(split.test) == 10


def test_split_round_trips_through_json(tmp_path):
    split = random_split(clips())
    split.save(tmp_path / "split.json")
    assert Split.load(tmp_path / "split.json") == split


@pytest.mark.parametrize("text", ["0.5,0.5", "a,b,c", "0.6,0.3,0.3", "0,0.5,0.5", "-0.1,0.6,0.5"])
def test_bad_ratios_are_refused(text):
    with pytest.raises(SplitError, match="--split-ratios"):
        parse_ratios(text)


def test_ratios_parse():
    assert parse_ratios("0.5,0.2,0.3") == (0.5, 0.2, 0.3)


def test_split_lists_match_on_clip_id_not_extension(tmp_path):
    (tmp_path / "train_x.txt").write_text("a/a.00000.au\na/a.00001.au\nb/b.00000.au\n")
    (tmp_path / "valid_x.txt").write_text("a/a.00002.wav\n\n")
    (tmp_path / "test_x.txt").write_text("b/b.00001.wav\nb/b.00009.wav\n")
    store_clips = {"a.00000": "a", "a.00001": "a", "a.00002": "a", "b.00000": "b", "b.00001": "b", "b.00005": "b"}
    split = split_from_lists(tmp_path, store_clips)
    assert split.train == ["a.00000", "a.00001", "b.00000"]
    assert split.valid == ["a.00002"] and split.test == ["b.00001"]
    assert split.excluded == ["b.00005"] and split.missing == ["b.00009"]
    assert "1 in no list, excluded" in split.summary()


def test_split_lists_refuse_a_clip_in_two_lists(tmp_path):
    for part in ("train", "valid", "test"):
        (tmp_path / f"{part}.txt").write_text("a/a.00000.wav\n" if part != "valid" else "")
    with pytest.raises(SplitError, match="also in the train list"):
        split_from_lists(tmp_path, {"a.00000": "a"})


def test_split_lists_need_all_three_files(tmp_path):
    (tmp_path / "train.txt").write_text("")
    with pytest.raises(SplitError, match="no valid\\*.txt"):
        split_from_lists(tmp_path, {})


def test_standard_gtzan_lists(gtzan_split_lists):
    all_clips = {f"{g}.{k:05d}": g for g in ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal",
                                                 "pop", "reggae", "rock") for k in range(100)}
    split = split_from_lists(gtzan_split_lists, all_clips)
    assert (len(split.train), len(split.valid), len(split.test)) == (443, 197, 290)
    assert len(split.excluded) == 70 and split.missing == []
    assert "jazz.00054" in split.train  # corrupt in the Kaggle copy, yet listed
