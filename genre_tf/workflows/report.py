"""`genre-tf report`: every finished run, ranked in comparable groups, with figures.

Runs on different data or different splits are never ranked together: each (data, split) pair is
its own group. Beside each mean, how sure it is: a 95% interval of the clip accuracy over the run's test
clips (a CV run's: every clip, out of fold), and whether the run is told apart from the group's #1 by a
paired test on the clips both scored (training/significance.py). The ranking is saved with the report,
and `predict --run best` uses its top run, saying when #1 is tied with others.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from pathlib import Path

import numpy as np

from ..config import BEST_RUN, DEFAULT_REPORTS, DEFAULT_RUNS
from ..core.errors import GenreTfError, first_line
from ..core.files import new_timestamped_folder
from ..io.runs import LEVELS, History, Run, ScoredClips, scan_runs
from ..training.significance import (
    CONFIDENCE,
    Comparison,
    Interval,
    accuracy_interval,
    balanced_accuracy_interval,
    mcnemar,
)

# The metric columns of every table this module writes or the CLI prints: (level, metric, title).
METRIC_COLUMNS = (("segment", "accuracy", "seg acc"), ("segment", "balanced_accuracy", "seg bal acc"),
                  ("segment", "f1", "seg F1"), ("clip", "accuracy", "clip acc"),
                  ("clip", "balanced_accuracy", "clip bal acc"), ("clip", "f1", "clip F1"))
# --sort names, the default first.
SORT_KEYS = {f"{level}_{metric}": (level, metric)
             for level, metric, _ in sorted(METRIC_COLUMNS, key=lambda c: c[0] != "clip")}
DEFAULT_SORT = next(iter(SORT_KEYS))
COLUMNS = ("rank", "input", "model", "parameters", "epochs", "train time", *(t for _, _, t in METRIC_COLUMNS),
           "clip acc 95% CI", "clips", "vs #1", "run")
_TERMINAL_TITLES = {"rank": "#", "parameters": "params", "epochs": "epochs best/run"}


def terminal_headers() -> tuple[str, ...]:
    """COLUMNS for a terminal, without the run (listed below the table): two-line headers keep each
    column as narrow as its numbers."""
    return tuple(_TERMINAL_TITLES.get(c, c).replace(" ", "\n", 1) for c in COLUMNS[:-1])


@dataclasses.dataclass(frozen=True)
class Standing:
    """How sure a run's clip scores are, over its test clips (a CV run's: all of them, out of fold), and
    how it stands against its group's #1."""

    clips: int
    accuracy: Interval
    balanced_accuracy: Interval
    versus_best: Comparison | None  # None: #1 itself, or no paired test (see `versus`)
    versus: str  # the table's cell: "#1", versus_best's verdict, "other clips" or "n/a (...)"


@dataclasses.dataclass
class Group:
    data: str
    split: str
    runs: list[Run]  # ranked
    standings: list[Standing | None] = dataclasses.field(default_factory=list)  # None: a run without test clips kept

    @property
    def title(self) -> str:
        return f"data {self.data}, split {self.split}"

    def tied_with_best(self) -> list[Run]:
        """The runs a paired test on the same clips cannot tell apart from #1."""
        return [run for run, standing in zip(self.runs[1:], self.standings[1:])
                if standing and standing.versus_best and standing.versus_best.tied]


@dataclasses.dataclass
class Report:
    groups: list[Group]
    skipped: list[str]
    sort: str
    untested: list[Run] = dataclasses.field(default_factory=list)  # final runs without a test split: not ranked
    runs_dir: Path | None = None
    folder: Path | None = None  # where it was written

    @property
    def best(self) -> Run | None:
        """Top run of the first (largest) group; a CV run predicts with its fold models together."""
        return self.groups[0].runs[0] if self.groups else None


def report(runs_dir: str | Path = DEFAULT_RUNS, reports_dir: str | Path = DEFAULT_REPORTS,
           sort: str = DEFAULT_SORT) -> Report:
    """Rank every finished run under `runs_dir` (grouped by data and split) and write the report
    (results.md, results.csv, ranking.json, figures) into a new folder under `reports_dir`.

    Args:
        runs_dir: the folder of runs.
        reports_dir: the folder the report's own folder (named by the time) is made in.
        sort: what ranks them: one of SORT_KEYS (clip or segment accuracy, balanced accuracy or F1).

    Returns:
        The ranking, as `rank_runs` returns it, with `folder` set to where the report was written; its `best`
            is the top run of the largest group.

    Raises:
        GenreTfError: `sort` is not a sort key, `runs_dir` is not a folder, or it holds no finished run.
    """
    ranking = rank_runs(runs_dir, sort)
    return dataclasses.replace(ranking, folder=write_report(ranking, reports_dir))


def rank_runs(runs_dir: str | Path = DEFAULT_RUNS, sort: str = DEFAULT_SORT) -> Report:
    """Every finished run in `runs_dir`, ranked, without writing a report (`report` writes one).

    Args:
        runs_dir: the folder of runs.
        sort: what ranks them: one of SORT_KEYS (clip or segment accuracy, balanced accuracy or F1).

    Returns:
        The runs grouped by what they were trained and tested on (one table per group, the best first, each
            with its intervals and its comparison with #1), the runs skipped with their causes, and the
            untested runs.

    Raises:
        GenreTfError: `sort` is not a sort key, or `runs_dir` is not a folder.
    """
    if sort not in SORT_KEYS:
        raise GenreTfError(f"`sort` must be one of {', '.join(SORT_KEYS)}")
    runs, skipped = scan_runs(runs_dir)
    by_group: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        if run.tested:
            by_group.setdefault(run.group(), []).append(run)
    level, metric = SORT_KEYS[sort]
    groups = [_with_standings(Group(data, split, sorted(members, key=lambda r: (-r.metrics.value(level, metric),
                                                                              r.name))),
                              skipped) for (data, split), members in by_group.items()]
    groups.sort(key=lambda g: (-len(g.runs), g.title))  # the largest comparison first
    return Report(groups, skipped, sort, [r for r in runs if not r.tested], Path(runs_dir))


def _with_standings(group: Group, problems: list[str]) -> Group:
    """Each run's intervals, and its paired comparison with #1 where both scored the same clips with the
    same genres. A run whose test clips cannot be read is ranked without them (said in `problems`)."""
    scored = [_scored_clips(run, problems) for run in group.runs]
    best = scored[0]
    for rank, clips in enumerate(scored, start=1):
        if clips is None:
            group.standings.append(None)
            continue
        versus_best = paired_with(clips, best) if rank > 1 else None
        versus = "#1" if rank == 1 else versus_best.verdict() if versus_best else \
            "n/a (#1 kept no test clips)" if best is None else "other clips"
        group.standings.append(Standing(len(clips.clip_ids), accuracy_interval(clips.true, clips.predicted),
                                        balanced_accuracy_interval(clips.true, clips.predicted), versus_best, versus))
    return group


def paired_with(clips: ScoredClips, best: ScoredClips | None) -> Comparison | None:
    """McNemar's test of a run against #1 where both scored the same clips with the same genres (each in
    clip-id order); None where they did not, or #1 kept no test clips."""
    same = best is not None and np.array_equal(clips.clip_ids, best.clip_ids) and np.array_equal(clips.true, best.true)
    return mcnemar(clips.right, best.right) if same else None


def _scored_clips(run: Run, problems: list[str]) -> ScoredClips | None:
    """The run's test clips in clip-id order; None, said in `problems`, for a damaged file."""
    try:
        clips = run.scored_clips()
    except GenreTfError as e:
        problems.append(f"{e}; ranked without its interval")
        return None
    return clips.by_clip() if clips is not None else None


def _cell(run: Run, level: str, metric: str, compact: bool) -> str:
    spread = run.metrics.spread(level, metric)
    if spread is None:
        return f"{run.metrics.value(level, metric):.3f}"
    value = run.metrics.value(level, metric)
    return f"{value:.2f}±{spread:.2f}" if compact else f"{value:.3f} ± {spread:.3f}"


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e3 else str(n)


def _epochs_cell(histories: list[History]) -> str:
    """best/run epochs (the mean over folds), '+refit' for a refit on train+valid; 'exact' for an exact fit."""
    if any(h.exact for h in histories):
        return "exact"
    best = [h.best_epoch for h in histories]
    ran = [h.epochs_run for h in histories]
    cell = f"{best[0]}/{ran[0]}" if len(best) == 1 else f"{sum(best) / len(best):.0f}/{sum(ran) / len(ran):.0f} avg"
    return cell + (" +refit" if any(h.refit for h in histories) else "")


def row_cells(rank: int, run: Run, standing: Standing | None, compact: bool = False) -> list[str]:
    """The cells of COLUMNS for one run; compact (for a terminal) drops the run name and shortens."""
    epochs = _epochs_cell(run.histories)
    parameters = _count(run.config.parameters) if compact else f"{run.config.parameters:,}"
    interval = standing.accuracy if standing else None
    cells = [str(rank), run.input_label, run.model_label, parameters, epochs, f"{run.config.train_seconds:.0f} s",
             *[_cell(run, lv, m, compact) for lv, m, _ in METRIC_COLUMNS],
             "n/a" if not interval else f"{interval.low:.2f}-{interval.high:.2f}" if compact
             else f"{interval.low:.3f}-{interval.high:.3f}", str(standing.clips) if standing else "n/a",
             standing.versus if standing else ("#1" if rank == 1 else "n/a")]
    return cells if compact else [*cells, run.name]


def ties_line(group: Group) -> str | None:
    """One sentence where #1 is not told apart from other runs of its group, else None."""
    tied = group.tied_with_best()
    if not tied:
        return None
    ranks = ", ".join(f"#{group.runs.index(run) + 1}" for run in tied)
    return (f"#1 is tied with {ranks}: on the same {group.standings[0].clips} test clips, McNemar's test cannot tell "
            "them apart (p ≥ 0.05); the order between them is noise")


def as_markdown(report: Report) -> str:
    lines = [f"Ranked by {report.sort.replace('_', ' ')}; CV runs show mean ± std over folds. Runs on different "
             "data or splits are in separate tables: their scores are not comparable. `clip acc 95% CI`: the clip "
             "accuracy's bootstrap interval over the run's test clips (a CV run's: every clip, out of fold); `vs #1`: "
             "McNemar's exact test against #1 on the same clips (tied: p ≥ 0.05)."]
    for group in report.groups:
        lines += ["", f"### {group.title}", "", "| " + " | ".join(COLUMNS) + " |",
                  "|" + "|".join("---" for _ in COLUMNS) + "|"]
        lines += ["| " + " | ".join(row_cells(i + 1, run, standing)) + " |"
                  for i, (run, standing) in enumerate(zip(group.runs, group.standings))]
        ties = ties_line(group)
        lines += ["", ties] if ties else []
    if report.untested:
        lines += ["", "Untested (trained on all clips, no test split; not ranked):"]
        lines += [f"- {untested_line(run)}" for run in report.untested]
    if report.skipped:
        lines += ["", "Skipped:"] + [f"- {s}" for s in report.skipped]
    return "\n".join(lines) + "\n"


def untested_line(run: Run) -> str:
    return f"{run.input_label} / {run.model_label}: {run.path}"


def as_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["data", "split", *COLUMNS])
    for group in report.groups:
        for i, (run, standing) in enumerate(zip(group.runs, group.standings)):
            writer.writerow([group.data, group.split, *row_cells(i + 1, run, standing)])
    return buffer.getvalue()


def as_json(report: Report) -> str:
    return json.dumps({
        "sort": report.sort,
        "groups": [{"data": g.data, "split": g.split, "runs": [
            {"rank": i + 1, "run": str(r.path), "inputs": r.inputs, "model": r.model,
             "parameters": r.config.parameters, "best_epochs": [h.best_epoch for h in r.histories],
             "epochs_run": [h.epochs_run for h in r.histories], "train_seconds": r.config.train_seconds,
             "metrics": {lv: {m: r.metrics.scores(lv)[m] for level, m, _ in METRIC_COLUMNS if level == lv}
                         for lv in LEVELS}, **_standing_json(standing)}
            for i, (r, standing) in enumerate(zip(g.runs, g.standings))]} for g in report.groups],
        "best": str(report.best.path) if report.best else None,
        "best_tied_with": [str(r.path) for r in report.groups[0].tied_with_best()] if report.groups else [],
        "untested": [str(r.path) for r in report.untested],
        "skipped": report.skipped,
    }, indent=1)


def _standing_json(standing: Standing | None) -> dict:
    if standing is None:
        return {"clip_interval": None, "versus_best": None}
    versus = standing.versus_best
    return {"clip_interval": {"clips": standing.clips, "confidence": CONFIDENCE,
                              "accuracy": list(dataclasses.astuple(standing.accuracy)),
                              "balanced_accuracy": list(dataclasses.astuple(standing.balanced_accuracy)),
                              "methods": {"accuracy": "Wilson score interval",
                                          "balanced_accuracy": "bootstrap over clips"}},
            "versus_best": None if versus is None else {
                "test": "McNemar exact", "p_value": versus.p_value, "tied": versus.tied,
                "clips_only_this_right": versus.only_first, "clips_only_best_right": versus.only_second},
            "versus_best_cell": standing.versus}


# `report --format` choices besides the terminal table.
FORMATS = {"md": as_markdown, "csv": as_csv, "json": as_json}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text)


def write_report(report: Report, reports_dir: str | Path) -> Path:
    """reports/<timestamp>/: results.md, results.csv, ranking.json, and the figures."""
    from . import plots

    if not report.groups and not report.untested:
        raise GenreTfError(f"{report.runs_dir}: no finished runs to report; train a model first (genre-tf train)")
    out = new_timestamped_folder(reports_dir)
    (out / "results.md").write_text(as_markdown(report))
    (out / "results.csv").write_text(as_csv(report))
    (out / "ranking.json").write_text(as_json(report))
    for group in report.groups:
        for run in group.runs:
            title = f"{run.input_label} / {run.model_label}: {run.name}"
            plots.confusion_matrix_png(run.metrics.confusion("clip"), run.genres, f"{title}\nclip level, test clips",
                                       out / f"confusion-{_slug(run.name)}.png")
            plots.training_curves_png(run.histories, title, out / f"curves-{_slug(run.name)}.png")
    if report.groups:
        plots.overview_png([(g.title, g.runs, g.standings) for g in report.groups], out / "overview.png")
    return out


def resolve_run(run: str, reports_dir: str | Path = DEFAULT_REPORTS, runs_dir: str | Path = DEFAULT_RUNS,
                info=lambda message: None) -> Path:
    """A run directory, or 'best': the top run of the newest report in `reports_dir`; with no report
    yet, the top of the finished runs in `runs_dir`, ranked now (`info` is told which, and when #1 is
    tied with others)."""
    if run != BEST_RUN:
        return Path(run)
    reports = sorted(Path(reports_dir).glob("*/ranking.json")) if Path(reports_dir).is_dir() else []
    if reports:
        best, tied = latest_ranking(reports[-1])
        if tied:
            info(_tied_message(best, tied))
        return best
    ranking = rank_runs(runs_dir) if Path(runs_dir).is_dir() else None
    if ranking is None or ranking.best is None:
        raise GenreTfError(f"no report in {reports_dir} and no tested run in {runs_dir} to rank: train a model "
                           "(genre-tf train), or pass a run folder as `run`")
    best, score = ranking.best, ranking.best.metrics.value(*SORT_KEYS[ranking.sort])
    info(f"no report in {reports_dir}: ranked the {sum(len(g.runs) for g in ranking.groups)} tested runs in "
         f"{runs_dir} by {ranking.sort.replace('_', ' ')} and picked {best.path} ({score:.3f})")
    tied = [run.path for run in ranking.groups[0].tied_with_best()]
    if tied:
        info(_tied_message(best.path, tied))
    return best.path


def _tied_message(best: Path, tied: list[Path]) -> str:
    return (f"the best run, {best.name}, is tied with {len(tied)} other{'s' if len(tied) > 1 else ''} on the same "
            f"test clips ({', '.join(p.name for p in tied)}): the difference between them is within noise")


def latest_ranking(ranking: Path) -> tuple[Path, list[Path]]:
    """The run a report's ranking.json names best, and those it is tied with."""
    try:
        saved = json.loads(ranking.read_text())
        best, tied = saved.get("best"), saved.get("best_tied_with", [])
        tied = [Path(p) for p in tied] if isinstance(tied, list) and all(isinstance(p, str) for p in tied) else []
    except (OSError, ValueError, AttributeError, TypeError) as e:
        raise GenreTfError(f"{ranking}: unreadable report ({first_line(e)}); run `genre-tf report` again") from None
    if not best:
        raise GenreTfError(f"{ranking}: the last report ranks no run; pass a run folder as `run`")
    return Path(best), tied
