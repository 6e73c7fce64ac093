"""Reading finished training runs back: what `report` ranks and `predict` loads."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from .errors import GenreTfError
from .params import segment_label

# A run is assembled under this prefix and renamed when complete (train.py).
INCOMPLETE_PREFIX = ".incomplete-"


@dataclasses.dataclass
class Run:
    path: Path
    config: dict
    metrics: dict  # segment/clip metrics; CV runs: mean/std dicts, plus "folds"
    histories: list[dict]  # one per fold (one for a plain run)
    model_files: list[Path]  # one per fold (one for a plain run)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def inputs(self) -> list[str]:
        return list(self.config["train"]["inputs"])

    @property
    def model(self) -> str:
        return self.config["train"]["model"]

    @property
    def segment_seconds(self) -> float:
        segment = self.config["store"]["segment_params"]
        return segment["segment_samples"] / segment["sample_rate"]

    @property
    def input_label(self) -> str:
        """'logmel', or 'logmel 6s' for segments of another length than the usual 3 s."""
        return " ".join(filter(None, ["+".join(self.inputs), segment_label(self.segment_seconds)]))

    @property
    def model_label(self) -> str:
        """'cnn5', or 'cnn5 +shift,mask' for a run trained on augmented batches."""
        augment = self.config["train"].get("augment")  # runs before genre-tf 0.2 have none
        return self.model + (f" +{','.join(augment)}" if augment else "")

    @property
    def labels(self) -> list[str]:
        return self.config["labels"]

    @property
    def is_cv(self) -> bool:
        return bool(self.config["train"]["cv"])

    @property
    def tested(self) -> bool:
        """False for a final run trained on all clips (no test split): it has no scores to rank."""
        return bool(self.metrics)

    def split_description(self) -> str:
        t = self.config["train"]
        if t["cv"]:
            return f"{t['cv']}-fold CV, seed {t['seed']}"
        if t["split_lists"]:
            return f"lists {t['split_lists']}"
        return f"random {'/'.join(str(r) for r in t['split_ratios'])}, seed {t['seed']}"

    def group(self) -> tuple[str, str]:
        """Runs are only comparable on the same data and the same split."""
        return self.config["store"]["data"], self.split_description()

    def value(self, level: str, metric: str) -> float:
        v = self.metrics[level][metric]
        return v["mean"] if isinstance(v, dict) else v

    def spread(self, level: str, metric: str) -> float | None:
        v = self.metrics[level][metric]
        return v["std"] if isinstance(v, dict) else None


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GenreTfError(f"missing {path.name}") from None
    except (OSError, json.JSONDecodeError) as e:
        raise GenreTfError(f"unreadable {path.name} ({e})") from None


def load_run(path: str | Path) -> Run:
    """A finished run, or GenreTfError saying what is wrong with it."""
    path = Path(path)
    if not path.is_dir():
        raise GenreTfError(f"{path}: no such run directory")
    if path.name.startswith(INCOMPLETE_PREFIX):
        raise GenreTfError(f"{path}: unfinished run (training was interrupted)")
    try:
        config = _read_json(path / "config.json")
        metrics = _read_json(path / "metrics.json")
        fold_dirs = sorted(path.glob("fold-*"), key=lambda p: int(p.name.split("-")[1])) if config["train"]["cv"] \
            else [path]
        histories = [_read_json(d / "history.json") for d in fold_dirs]
        for d in fold_dirs:
            if not (d / "model.keras").exists():
                raise GenreTfError(f"missing {d.relative_to(path.parent)}/model.keras")
        run = Run(path, config, metrics, histories, [d / "model.keras" for d in fold_dirs])
        run.group()  # every field the report reads is there
        if run.tested:
            run.value("clip", "accuracy")
    except GenreTfError as e:
        raise GenreTfError(f"{path}: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise GenreTfError(f"{path}: damaged run ({type(e).__name__}: {e})") from None
    return run


def scan_runs(runs_dir: str | Path) -> tuple[list[Run], list[str]]:
    """Every finished run under runs_dir, and one line for each directory skipped, with the reason."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise GenreTfError(f"{runs_dir}: no runs folder; train a model first (genre-tf train)")
    runs, skipped = [], []
    for path in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        try:
            runs.append(load_run(path))
        except GenreTfError as e:
            skipped.append(str(e))
    return runs, skipped
