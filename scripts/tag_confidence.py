"""How sure a prediction must be before `genre-tf tag` writes it, measured on real music: for each cross-validated
run in a runs folder (e.g. bench_real.py's on the GTZAN clips in ../shared), the run's own default (the lowest
confidence above which 90% of its out-of-fold test clips were right), the share of clips it keeps, and whether it
holds on clips it was not chosen on: chosen on four folds' clips, its precision on the fifth's, pooled over the
five rotations. Then the fixed default (TAG_MIN_CONFIDENCE, for runs without test clips) on every run.

    python scripts/tag_confidence.py RUNS_FOLDER
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genre_tf.config import TAG_CALIBRATION_CLIPS, TAG_MIN_CONFIDENCE, TAG_PRECISION  # noqa: E402
from genre_tf.io.runs import TEST_CLIPS_FILE, ScoredClips, scan_runs  # noqa: E402
from genre_tf.workflows.tagging import confidence_for_precision  # noqa: E402


def held_out(folds: list[ScoredClips]) -> tuple[int, int]:
    """(clips kept, of them right) on each fold, by the threshold chosen on the other folds."""
    kept = right = 0
    for k, fold in enumerate(folds):
        others = ScoredClips.joined(folds[:k] + folds[k + 1:])
        found = confidence_for_precision(others.confidence, others.right)
        if found:
            above = fold.confidence >= found[0]
            kept, right = kept + int(above.sum()), right + int(fold.right[above].sum())
    return kept, right


def main() -> None:
    runs = scan_runs(sys.argv[1])[0]
    print(f"precision wanted {TAG_PRECISION:.0%}, measured over at least {TAG_CALIBRATION_CLIPS} clips\n")
    print(f"| run | clips | accuracy | own threshold | kept | right when kept | held out: kept | held out: right "
          f"| at {TAG_MIN_CONFIDENCE}: kept | at {TAG_MIN_CONFIDENCE}: right |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        folds = [ScoredClips.read(f.parent / TEST_CLIPS_FILE, run.genres) for f in run.model_files]
        scored = ScoredClips.joined(folds)
        threshold, kept, share = confidence_for_precision(scored.confidence, scored.right) or (np.nan, 0, np.nan)
        held_kept, held_right = held_out(folds)
        fixed = scored.confidence >= TAG_MIN_CONFIDENCE
        n = len(scored.right)
        print(f"| {run.name} | {n} | {scored.right.mean():.1%} | {threshold:.2f} | {kept / n:.0%} | {share:.1%} "
              f"| {held_kept / n:.0%} | {held_right / max(held_kept, 1):.1%} | {fixed.mean():.0%} "
              f"| {scored.right[fixed].mean():.1%} |")


if __name__ == "__main__":
    main()
