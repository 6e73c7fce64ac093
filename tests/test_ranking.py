"""A ranking that tells a real difference from noise: macro metrics over the genres tested, a 95% interval
per run over its test clips, McNemar's test against #1 on the same clips, and `--run best` saying when #1
is tied. Runs are written by RunWriter around a stand-in model (tests/helpers.py): no training."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from genre_tf.cli import app
from genre_tf.io.runs import ScoredClips
from genre_tf.training.evaluate import classification_metrics, outcome_metrics, outcomes_of
from genre_tf.training.significance import accuracy_interval, balanced_accuracy_interval, mcnemar
from genre_tf.workflows.report import rank_runs, resolve_run, write_report

from .helpers import metrics_of, write_run

GENRES = ["jazz", "metal", "pop", "rock"]
runner = CliRunner()


def test_macro_scores_are_over_the_genres_the_test_clips_have():
    # FMA-style: a test split with no clip of one genre; a perfect run scores 1.0 everywhere.
    probabilities = np.eye(3)[[0, 0, 1, 1, 1, 0]]
    metrics = metrics_of(probabilities, np.array([0, 0, 1, 1, 1, 0]), np.array(["a", "b", "c", "d", "e", "f"]))
    for level in ("segment", "clip"):
        assert {m: metrics.value(level, m) for m in ("accuracy", "precision", "recall", "f1")} == \
               {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 5, 300), rng.integers(0, 7, 300)  # genres 5 and 6 predicted, never true
    scores = classification_metrics(y_true, y_pred, 10)
    assert scores["recall"] == pytest.approx(scores["balanced_accuracy"], abs=1e-12)


@pytest.mark.parametrize("right,n,low,high", [(50, 100, 0.4038, 0.5962), (80, 100, 0.7112, 0.8666),
                                               (8, 8, 0.6756, 1.0), (0, 5, 0.0, 0.4345)])
def test_the_accuracy_interval_is_wilsons(right, n, low, high):
    # Wilson's score interval (published values); at 8 of 8 it does not shrink to [1, 1] as a bootstrap would
    interval = accuracy_interval(np.zeros(n, int), np.where(np.arange(n) < right, 0, 1))
    assert interval.value == right / n
    assert interval.low == pytest.approx(low, abs=1e-4) and interval.high == pytest.approx(high, abs=1e-4)


def test_no_clip_has_no_interval():
    with pytest.raises(ValueError, match="at least one clip"):
        accuracy_interval(np.zeros(0, int), np.zeros(0, int))
    with pytest.raises(ValueError, match="at least one clip"):
        balanced_accuracy_interval(np.zeros(0, int), np.zeros(0, int))


def test_the_balanced_accuracy_interval_is_around_the_mean_recall():
    true = np.array([0] * 90 + [1] * 10)
    predicted = np.array([0] * 90 + [1] * 5 + [0] * 5)  # recall 1.0 and 0.5
    interval = balanced_accuracy_interval(true, predicted)
    assert interval.value == pytest.approx(0.75) and interval.low < 0.75 < interval.high <= 1.0
    wilson = accuracy_interval(true, predicted)
    assert interval.high - interval.low > wilson.high - wilson.low


def test_mcnemar_exact_values():
    right, wrong = np.ones(40, bool), np.zeros(40, bool)
    assert mcnemar(right, right).p_value == 1.0 and mcnemar(right, right).tied
    ten_to_none = mcnemar(np.r_[np.ones(10, bool), right[10:]], np.r_[wrong[:10], right[10:]])
    assert (ten_to_none.only_first, ten_to_none.only_second) == (10, 0)
    assert ten_to_none.p_value == pytest.approx(2 / 2 ** 10) and not ten_to_none.tied
    assert ten_to_none.verdict() == "above (p 0.002)"  # the first got right the clips the second missed
    assert mcnemar(np.r_[wrong[:10], right[10:]], np.r_[np.ones(10, bool), right[10:]]).verdict() == "below (p 0.002)"
    big = mcnemar(np.arange(200_000) % 5 > 0, np.arange(200_000) % 6 > 0)  # large test sets: exact and fast
    assert big.p_value == pytest.approx(2.3171854766974714e-163, rel=1e-6) and not big.tied  # scipy binomtest
    five_three = mcnemar(np.r_[np.ones(5, bool), np.zeros(3, bool)], np.r_[np.zeros(5, bool), np.ones(3, bool)])
    assert five_three.p_value == pytest.approx(2 * (1 + 8 + 28 + 56) / 256) and five_three.tied


def _scores(true: np.ndarray, predicted: np.ndarray, clip_ids=None):
    """Fold metrics and clips of a run that predicted `predicted` for clips of genres `true`."""
    clip_ids = np.array([f"clip{k:03d}" for k in range(len(true))]) if clip_ids is None else clip_ids
    outcomes = outcomes_of(np.eye(len(GENRES))[predicted], true, clip_ids)
    return outcome_metrics(outcomes, len(GENRES)), outcomes.clips


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """On the same 80 test clips: a run right on every clip, one right on 79, one on half of them; and a
    run tested on other clips."""
    folder = tmp_path_factory.mktemp("ranked") / "runs"
    true = np.arange(80) % len(GENRES)
    for name, right in (("perfect", 80), ("almost", 79), ("half", 40)):
        metrics, clips = _scores(true, np.where(np.arange(80) < right, true, (true + 1) % len(GENRES)))
        write_run(folder, name, GENRES, [metrics], fold_clips=[clips])
    metrics, clips = _scores(true[:60], true[:60], np.array([f"other{k}" for k in range(60)]))
    write_run(folder, "zother", GENRES, [metrics], fold_clips=[clips])
    return folder


def test_report_gives_intervals_and_marks_the_runs_tied_with_the_best(runs, tmp_path):
    ranking = rank_runs(runs)
    (group,) = ranking.groups
    names = [run.name for run in group.runs]
    assert names == ["perfect", "zother", "almost", "half"]  # equal scores: by name
    by_name = dict(zip(names, group.standings))
    assert by_name["perfect"].clips == 80 and by_name["zother"].clips == 60
    half = by_name["half"].accuracy
    assert half.value == 0.5 and 0.38 < half.low < 0.5 < half.high < 0.62
    assert by_name["perfect"].accuracy.low == pytest.approx(0.9542, abs=1e-4)  # Wilson, 80 of 80
    assert by_name["almost"].versus_best.tied and not by_name["half"].versus_best.tied
    assert by_name["half"].versus_best.p_value < 1e-9 and by_name["zother"].versus == "other clips"
    assert by_name["half"].versus == "below (p 1.8e-12)" and by_name["perfect"].versus == "#1"
    assert [run.name for run in group.tied_with_best()] == ["almost"]
    result = runner.invoke(app, ["report", "--runs", str(runs), "--reports", str(tmp_path / "reports")])
    assert result.exit_code == 0, result.output
    assert "#1 is tied with #3: on the same 80 test clips, McNemar's test cannot tell them apart" in result.stdout
    saved = json.loads(next((tmp_path / "reports").glob("*/ranking.json")).read_text())
    rows = {r["run"].split("/")[-1]: r for r in saved["groups"][0]["runs"]}
    assert rows["half"]["versus_best"]["tied"] is False and rows["almost"]["versus_best"]["tied"] is True
    assert rows["half"]["clip_interval"]["clips"] == 80 and rows["zother"]["versus_best_cell"] == "other clips"
    assert [p.split("/")[-1] for p in saved["best_tied_with"]] == ["almost"]
    markdown = next((tmp_path / "reports").glob("*/results.md")).read_text()
    assert "| clip acc 95% CI | clips | vs #1 |" in markdown
    assert "below (p" in markdown and "tied (p 1)" in markdown and "other clips" in markdown
    told = []
    assert resolve_run("best", tmp_path / "reports", info=told.append).name == "perfect"
    assert told == ["the best run, perfect, is tied with 1 other on the same test clips (almost): the difference "
                    "between them is within noise"]


def test_a_cv_run_is_scored_over_every_clip_out_of_fold_and_runs_from_before_have_no_interval(tmp_path):
    true = np.arange(90) % 3
    folds = [_scores(true[k::3], true[k::3], np.array([f"c{j}" for j in range(k, 90, 3)])) for k in range(3)]
    metrics = [m for m, _ in folds]
    write_run(tmp_path / "runs", "cv", GENRES[:3], metrics, cv=True,
              fold_clips=[c for _, c in folds])
    write_run(tmp_path / "runs", "old", GENRES[:3], [metrics[0]])  # no test_clips.csv, as runs before it
    group = rank_runs(tmp_path / "runs").groups
    standings = {run.name: s for g in group for run, s in zip(g.runs, g.standings)}
    assert standings["cv"].clips == 90 and standings["cv"].accuracy.value == 1.0 and standings["old"] is None
    folder = write_report(rank_runs(tmp_path / "runs"), tmp_path / "reports")
    assert "| n/a | n/a |" in (folder / "results.md").read_text() and (folder / "overview.png").stat().st_size > 0


def test_the_clips_a_run_scored_read_back_as_written(tmp_path):
    clips = ScoredClips(np.array(["a,b", 'q"x', "c"]), np.array([0, 2, 1]), np.array([0, 1, 1]),
                        np.array([0.9, 0.5, 0.25]))
    clips.write(tmp_path / "t.csv", ["jazz", "pop", "rock"])
    back = ScoredClips.read(tmp_path / "t.csv", ["jazz", "pop", "rock"])
    assert back.clip_ids.tolist() == ["a,b", 'q"x', "c"] and back.right.tolist() == [True, False, True]
    np.testing.assert_allclose(back.confidence, clips.confidence, rtol=1e-6)


def test_runs_report_n_a_and_damage_without_stopping_the_report(tmp_path):
    """#1 from before test clips were kept: the others are n/a, not "other clips"; a damaged test_clips.csv
    costs its run's interval (said), not the report; relabelled clips (same ids, other genres) are not paired."""
    true = np.arange(40) % len(GENRES)
    metrics, clips = _scores(true, true)
    write_run(tmp_path / "runs", "a-old", GENRES, [metrics])  # #1 by name, no test clips
    write_run(tmp_path / "runs", "b-new", GENRES, [metrics], fold_clips=[clips])
    (group,) = rank_runs(tmp_path / "runs").groups
    assert [s and s.versus for s in group.standings] == [None, "n/a (#1 kept no test clips)"]
    relabelled_metrics, relabelled = _scores((true + 1) % len(GENRES), (true + 1) % len(GENRES))
    write_run(tmp_path / "runs", "0-relabelled", GENRES, [relabelled_metrics], fold_clips=[relabelled])
    damaged = write_run(tmp_path / "runs", "c-damaged", GENRES, [metrics], fold_clips=[clips])
    (damaged / "test_clips.csv").write_text("clip_id,genre,predicted,probability\nclip000,blues,jazz,1\n")
    ranking = rank_runs(tmp_path / "runs")
    standings = {run.name: s for run, s in zip(ranking.groups[0].runs, ranking.groups[0].standings)}
    assert standings["0-relabelled"].versus == "#1" and standings["b-new"].versus == "other clips"
    assert standings["c-damaged"] is None
    assert any("c-damaged: damaged test_clips.csv (genre 'blues' is not one of the run's); ranked without its "
               "interval" in line for line in ranking.skipped), ranking.skipped
    (damaged / "test_clips.csv").write_text("clip_id,genre,predicted,probability\n")
    assert any("damaged test_clips.csv (no test clips)" in line for line in rank_runs(tmp_path / "runs").skipped)
