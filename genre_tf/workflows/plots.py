"""Report figures, drawn headless with matplotlib's Agg backend."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..io.runs import ExactFitRecord, History  # noqa: E402

# Above this many genres a confusion matrix is drawn as points without names: a labelled grid would be
# over 30 inches wide, and its dense image alone 800 MB at 10,000 genres.
LABELLED_CONFUSION_GENRES = 50


def confusion_matrix_png(matrix, genres: list[str], title: str, path: Path) -> None:
    """Rows normalized to 1 (recall per genre); `matrix` is sparse (scipy). Up to LABELLED_CONFUSION_GENRES
    genres every cell, the genres named and the counts in the cell text; above, only the nonzero cells,
    as points at the genres' class indices."""
    cells = matrix.tocoo()
    cells.sum_duplicates()
    rates = cells.data / np.maximum(np.asarray(cells.sum(1)).ravel()[cells.row], 1)
    if len(genres) > LABELLED_CONFUSION_GENRES:
        fig, ax = plt.subplots(figsize=(8, 7))
        image = ax.scatter(cells.col, cells.row, c=rates, s=4, marker="s", cmap="Blues", vmin=0, vmax=1,
                           edgecolors="grey", linewidths=0.2)
        ax.set_xlim(-0.5, len(genres) - 0.5)
        ax.set_ylim(len(genres) - 0.5, -0.5)
        ax.set_xlabel("predicted genre (its class index)")
        ax.set_ylabel("true genre (its class index)")
        ax.set_title(f"{title}\n{len(genres)} genres: the nonzero cells, unlabelled", fontsize=10)
    else:
        size = max(5.0, 0.55 * len(genres) + 2)
        fig, ax = plt.subplots(figsize=(size + 1, size))
        grid = np.zeros((len(genres),) * 2)
        grid[cells.row, cells.col] = rates
        image = ax.imshow(grid, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(genres)), genres, rotation=45, ha="right")
        ax.set_yticks(range(len(genres)), genres)
        ax.set_xlabel("predicted genre")
        ax.set_ylabel("true genre")
        ax.set_title(title, fontsize=10)
        for i, j, count, rate in zip(cells.row, cells.col, cells.data, rates):
            ax.text(j, i, f"{rate:.2f}\n({int(count)})", ha="center", va="center", fontsize=7,
                    color="white" if rate > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true genre")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def training_curves_png(histories: list[History], title: str, path: Path) -> None:
    """Loss and accuracy per epoch, train vs valid, the best epoch marked, and a refit's epochs on
    train+valid after it (every fold for CV); an exact head's choice of L2 strength instead."""
    if all(h.exact for h in histories):
        return _regularization_png([h.exact for h in histories], title, path)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, history in enumerate(histories):
        epochs = history.series("epoch")
        suffix = f" (fold {k + 1})" if len(histories) > 1 else ""
        for ax, metric in zip(axes, ("loss", "accuracy")):
            train_line, = ax.plot(epochs, history.series(metric), label=f"train{suffix}", alpha=0.9 if k == 0 else 0.5)
            valid = history.series(f"val_{metric}")
            ax.plot(epochs, valid, "--", color=train_line.get_color(), label=f"valid{suffix}",
                    alpha=0.9 if k == 0 else 0.5)
            if history.refit:
                ax.plot(history.series("epoch", refit=True), history.series(metric, refit=True), "-.",
                        color=train_line.get_color(), label=f"refit on train+valid{suffix}",
                        alpha=0.9 if k == 0 else 0.5)
            best = history.best_epoch
            ax.axvline(best, color=train_line.get_color(), linestyle=":", alpha=0.7)
            # Transfer models: where fine-tuning began, at a lower learning rate (older runs lack it).
            rates = history.series("learning_rate")
            for before, after, epoch in zip(rates, rates[1:], epochs[1:]):
                if before != after:
                    ax.axvline(epoch - 0.5, color="grey", linestyle="-.", alpha=0.6,
                               label="fine-tuning starts" if k == 0 else None)
            ax.plot([best], [valid[best - 1]], "o", color=train_line.get_color())
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_title("loss (dotted line, dot: best epoch)", fontsize=9)
    axes[1].set_title("accuracy", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def overview_png(groups: list[tuple[str, list, list]], path: Path) -> None:
    """One horizontal bar pair (segment, clip accuracy) per run, one panel per comparable group (title,
    runs, their standings): the clip accuracy's 95% interval over its test clips drawn on its bar, and
    the runs tied with #1 marked."""
    heights = [max(1.5, 0.45 * len(runs) + 1) for _, runs, _ in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (title, runs, standings) in zip(axes[:, 0], groups):
        tied = [k > 0 and s is not None and s.versus_best is not None and s.versus_best.tied
                for k, s in enumerate(standings)]
        names = [f"{r.input_label} / {r.model_label}" + (" (tied with #1)" if t else "")
                 for r, t in zip(runs, tied)][::-1]
        y = np.arange(len(runs))
        for offset, level, color in ((0.2, "clip", "tab:blue"), (-0.2, "segment", "tab:orange")):
            values = [r.metrics.value(level, "accuracy") for r in runs][::-1]
            errors = None if level == "clip" else [r.metrics.spread(level, "accuracy") or 0 for r in runs][::-1]
            ax.barh(y + offset, values, height=0.38, xerr=errors, color=color, label=f"{level} accuracy")
            ends = [max(v, s.accuracy.high) if level == "clip" and s else v for v, s in zip(values, standings[::-1])]
            for yi, v, end in zip(y + offset, values, ends):
                ax.text(end + 0.01, yi, f"{v:.2f}", va="center", fontsize=7)
        known = [(yi, s.accuracy) for yi, s in zip(y + 0.2, standings[::-1]) if s]
        if known:
            ax.errorbar([i.value for _, i in known], [yi for yi, _ in known], fmt="none", ecolor="black", capsize=3,
                        xerr=[[i.value - i.low for _, i in known], [i.high - i.value for _, i in known]],
                        label="clip accuracy, 95% CI")
        ax.set_yticks(y, names, fontsize=8)
        ax.set_xlim(0, 1.1)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel("test accuracy (segment bars: ± std over CV folds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def log_mel_png(spectrogram: np.ndarray, seconds: float, max_columns: int = 1600) -> bytes:
    """A (frames, bands) log-mel spectrogram as a PNG, time along x; long songs are averaged down
    to at most `max_columns` frames."""
    step = max(1, int(np.ceil(len(spectrogram) / max_columns)))
    frames = len(spectrogram) // step * step or len(spectrogram)
    pooled = spectrogram[:frames].reshape(-1, step, spectrogram.shape[1]).mean(1) if step > 1 else spectrogram
    fig, ax = plt.subplots(figsize=(10, 2.6))
    ax.imshow(pooled.T, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, spectrogram.shape[1]))
    ax.set_xlabel("seconds")
    ax.set_ylabel("mel band")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def _regularization_png(fits: list[ExactFitRecord], title: str, path: Path) -> None:
    """An exact head: held-out log loss of each L2 strength over the inner folds, the chosen one marked."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, fit in enumerate(fits):
        line, = ax.semilogx(fit.cs, fit.inner_cv_log_loss, "o-", alpha=0.9 if k == 0 else 0.5,
                            label=f"fold {k + 1}" if len(fits) > 1 else "inner CV")
        ax.plot([fit.c], [fit.chosen_loss], "*", markersize=12, color=line.get_color())
    ax.set_xlabel("C (inverse L2 strength)")
    ax.set_ylabel("held-out log loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{title}\nexact fit: C chosen by cross-validation over the training clips (star)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
