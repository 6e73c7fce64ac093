"""`genre-tf tag`: genres written into a library's own tags: a plan first, `--write` to apply it through a
journal, `--undo JOURNAL` to put the old genres back."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..config import (
    DEFAULT_TAGGING,
    PLAN_ROWS_SHOWN,
    TAG_CALIBRATION_CLIPS,
    TAG_MIN_CONFIDENCE,
    TAG_MODES,
    TAG_PRECISION,
    RayParams,
)
from ..core.errors import require, shown
from .app import (
    ENGINE_OPTION,
    MAX_WINDOWS_OPTION,
    RAY_ACTORS_OPTION,
    RAY_ADDRESS_OPTION,
    RAY_GPUS_OPTION,
    REPORTS_OPTION,
    RUN_OPTION,
    RUNTIME_OPTION,
    YAMNET_HANDLE_OPTION,
    YAMNET_WEIGHTS_OPTION,
    app,
    path_text,
    yamnet_override,
)
from .console import FileProgress, cli_errors, err, print_table, say
from .song_commands import chosen_run

# What each action of a plan is called in its summary.
_ACTION_WORDS = {"write": "to write", "keep": "kept (had a genre)", "below": "below the confidence",
                 "unchanged": "unchanged", "dropped": "dropped by the genre map", "refuse": "refused",
                 "failed": "not labelled"}


@app.command()
@cli_errors("every file is as it was or as planned; a --write's journal (in --out) names each file it wrote: "
            "the same command finishes the job, --undo JOURNAL puts them back")
def tag(
    library: Path = typer.Argument(None, help="The music library: every song under this folder.", show_default=False),
    write: bool = typer.Option(False, "--write", help="Write the plan's genres into the files (without it, "
                               "only plan: no file changes)."),
    undo: Path = typer.Option(None, "--undo", help="A journal of an earlier --write: put back the genres it "
                              "replaced (files changed since are refused).", parser=path_text),
    mode: str = typer.Option(TAG_MODES[0], help="fill: only songs without a genre; replace: every song's genre "
                             "becomes the prediction; add: the prediction beside the genres a song has."),
    min_confidence: float = typer.Option(None, help="Write only predictions at least this sure (0-1). Default: "
                                         f"the run's own, above which {TAG_PRECISION:.0%} of its test clips were "
                                         f"right (measured over at least {TAG_CALIBRATION_CLIPS}); "
                                         f"{TAG_MIN_CONFIDENCE} for a run without test clips."),
    genre_map: Path = typer.Option(None, help="A CSV of from,to: genres written as spelled in `to` "
                                   "(hiphop,Hip Hop); an empty `to` writes nothing for that genre.", parser=path_text),
    max_windows: int = MAX_WINDOWS_OPTION,
    runtime: str = RUNTIME_OPTION,
    out: Path = typer.Option(Path(DEFAULT_TAGGING), "--out", help="The work folder: predictions, the plan, "
                             "the journals (one library per folder).", parser=path_text),
    run: str = RUN_OPTION,
    reports: Path = REPORTS_OPTION,
    engine: str = ENGINE_OPTION,
    ray_address: str = RAY_ADDRESS_OPTION,
    ray_actors: int = RAY_ACTORS_OPTION,
    ray_gpus: float = RAY_GPUS_OPTION,
    yamnet_handle: str = YAMNET_HANDLE_OPTION,
    yamnet_weights: str = YAMNET_WEIGHTS_OPTION,
):
    """Write genres into a music library's tags (MP3, FLAC, Ogg, Opus, M4A, WAV, AIFF): a plan first; only
    the genre field changes; every write is journalled and can be undone."""
    from ..workflows.tagging import TagOptions, plan_tags, undo_tags, write_tags

    if undo is not None:
        require(library is None and not write, "--undo puts a journal's files back: give it alone")
        events = FileProgress("restoring", "files")
        try:
            outcome = undo_tags(undo, events)
        finally:
            events.close()
        say(f"restored {len(outcome.written)}, {outcome.as_they_were} had their old genres already, refused "
            f"{len(outcome.refused)}{_by_kind(outcome.refusals())}"
            + (f"; journal {outcome.journal}" if outcome.journal else ""))
        return
    require(library is not None, "name the library: genre-tf tag FOLDER (or --undo JOURNAL)")
    options = TagOptions(mode, min_confidence, str(genre_map) if genre_map else None)
    events = FileProgress("labelling", "songs")
    try:
        plan = plan_tags(chosen_run(run, reports), library, out, options, engine,
                         RayParams(ray_address, ray_actors, ray_gpus), yamnet_override(yamnet_handle, yamnet_weights),
                         events, max_windows=max_windows, runtime=runtime)
    finally:
        events.close()
    _show_plan(plan)
    if not write:
        say("nothing was written; to write these genres: the same command with --write")
        return
    events = FileProgress("writing", "files")
    try:
        outcome = write_tags(plan, events)
    finally:
        events.close()
    if outcome.journal:
        say(f"journal {outcome.journal}; to put the old genres back: genre-tf tag --undo {outcome.journal}")
    refused = plan.refusals() + outcome.refusals()
    say(f"written {len(outcome.written)}, kept {plan.count('keep')} (had a genre), below the confidence "
        f"{plan.count('below')}, refused {sum(refused.values())}{_by_kind(refused)}"
        + "".join(f", {_ACTION_WORDS[a]} {plan.count(a)}" for a in ("unchanged", "dropped", "failed") if plan.count(a)))


def _show_plan(plan) -> None:
    """The songs the plan changes or refuses (the first PLAN_ROWS_SHOWN; plan.csv holds every song), the
    threshold and where it comes from, and a count of each action."""
    listed = [song for song in plan.songs if song.action in ("write", "refuse")]
    if listed:
        table = Table("song", "genre now", "new", "sure", "action")
        for song in listed[:PLAN_ROWS_SHOWN]:
            table.add_row(shown(song.path), shown("; ".join(song.current)), shown("; ".join(song.new)),
                          "" if song.confidence is None else f"{song.confidence:.0%}",
                          song.action if song.action == "write" else f"refused: {song.reason.split(': ')[0]}")
        print_table(table)
        if len(listed) > PLAN_ROWS_SHOWN:
            say(f"… and {len(listed) - PLAN_ROWS_SHOWN} more in {plan.plan_file}")
        if plan.count("refuse"):
            say(f"why each song is refused: column `reason` of {plan.plan_file}", err)
    say(f"min confidence {plan.min_confidence:.2f}: {plan.confidence_source}", err)
    counts = ", ".join(f"{plan.count(a)} {_ACTION_WORDS[a]}" for a in _ACTION_WORDS if plan.count(a))
    say(f"plan for {len(plan.songs)} songs: {counts or 'nothing'}{_by_kind(plan.refusals())}; every song in "
        f"{plan.plan_file}")


def _by_kind(counts) -> str:
    """' (symbolic link 1, read-only 2)' for refusals counted by kind; '' for none."""
    return f" ({', '.join(f'{kind} {n}' for kind, n in sorted(counts.items()))})" if counts else ""
