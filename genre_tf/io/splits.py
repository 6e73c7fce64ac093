"""Train/valid/test splits made per clip, so the segments of one clip never straddle two splits.

Features do not depend on the split: a split is chosen where it is used, from a store's clip
index, and recorded with the run that used it.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ..config import DEFAULT_RATIOS, RANDOM_SPLIT
from ..core.errors import SplitError, listed

PARTS = ("train", "valid", "test")
# A label file's split values, in any case: FMA's set.split says training, validation, test.
_PART_SPELLINGS = {"train": "train", "training": "train", "valid": "valid", "validation": "valid", "val": "valid",
                   "test": "test", "testing": "test"}


def part_name(value: str) -> str | None:
    """train, valid or test for a label file's split value (any case, the usual spellings); None for others."""
    return _PART_SPELLINGS.get(value.strip().lower())


@dataclasses.dataclass
class Split:
    train: list[str]
    valid: list[str]
    test: list[str]
    excluded: list[str]  # clips of the store in no part
    missing: list[str]  # clips a list names that the store does not have
    source: dict  # how it was made, enough to make it again

    def part(self, name: str) -> list[str]:
        return getattr(self, name)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Split:
        return cls(**d)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: Path) -> Split:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def summary(self) -> str:
        text = ", ".join(f"{p} {len(self.part(p))}" for p in PARTS) + " clips"
        if self.excluded:
            text += f"; {len(self.excluded)} in no list, excluded"
        if self.missing:
            text += f"; {len(self.missing)} listed but not in the store"
        return text


def parse_ratios(text: str) -> tuple[float, float, float]:
    """--split-ratios' text: '0.64,0.16,0.2' -> (0.64, 0.16, 0.2); raises SplitError with what is wrong."""
    try:
        ratios = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise SplitError(f"--split-ratios '{text}': expected three numbers such as 0.64,0.16,0.2") from None
    if not _valid_ratios(ratios):
        raise SplitError(f"--split-ratios '{text}': {RATIOS_RULE}")
    return ratios  # type: ignore[return-value]


RATIOS_RULE = "need train,valid,test >= 0, train > 0, summing to 1"


def _valid_ratios(ratios: tuple[float, ...]) -> bool:
    return len(ratios) == 3 and all(r >= 0 for r in ratios) and abs(sum(ratios) - 1) <= 1e-6 and ratios[0] > 0


def check_ratios(ratios: tuple[float, ...]) -> None:
    if not _valid_ratios(ratios):
        raise SplitError(f"`split_ratios` {','.join(f'{r:g}' for r in ratios)}: {RATIOS_RULE}")


def _allocate(n: int, ratios: tuple[float, ...]) -> list[int]:
    """Split n items by ratios (largest remainder), giving each positive part at least one item
    when there are enough, so that tiny genres still appear in every split."""
    exact = [n * r for r in ratios]
    counts = [int(np.floor(x)) for x in exact]
    for i in sorted(range(len(ratios)), key=lambda i: exact[i] - counts[i], reverse=True)[: n - sum(counts)]:
        counts[i] += 1
    positive = [i for i, r in enumerate(ratios) if r > 0]
    if n >= len(positive):
        for i in positive:
            if counts[i] == 0:
                donor = max(range(len(counts)), key=lambda j: counts[j])
                counts[donor] -= 1
                counts[i] += 1
    return counts


def random_split(clip_genres: dict[str, str], ratios=DEFAULT_RATIOS, seed: int = 0) -> Split:
    """Stratified by genre, seeded: the same clips, ratios and seed give the same split."""
    check_ratios(tuple(ratios))
    rng = np.random.default_rng(seed)
    parts: dict[str, list[str]] = {p: [] for p in PARTS}
    for genre in sorted(set(clip_genres.values())):
        ids = sorted(c for c, g in clip_genres.items() if g == genre)
        rng.shuffle(ids)
        start = 0
        for part, count in zip(PARTS, _allocate(len(ids), ratios)):
            parts[part] += ids[start:start + count]
            start += count
    return Split(**{p: sorted(v) for p, v in parts.items()}, excluded=[], missing=[],
                 source={"kind": "random", "ratios": list(ratios), "seed": seed})


def _list_file(directory: Path, part: str) -> Path:
    matches = sorted(directory.glob(f"{part}*.txt"))
    if not matches:
        raise SplitError(f"{directory}: no {part}*.txt split list")
    if len(matches) > 1:
        raise SplitError(f"{directory}: several {part}*.txt lists ({', '.join(m.name for m in matches)}); keep one")
    return matches[0]


# `split_lists` names for the split a store's labels carry (a labels CSV's split column, FMA's official
# set.split): "fma" reads better in FMA's case and means the same.
LABEL_SPLITS = ("labels", "fma")


def split_from_labels(parts: dict[str, str], clip_genres: dict[str, str], source: str) -> Split:
    """The split a store's labels carry: {clip id: train|valid|test}; clips without one are excluded.
    `source`: where the labels came from, recorded with the split."""
    if not parts:
        raise SplitError(f"the store's labels ({source}) carry no split; use a labels CSV with a split column, "
                         "FMA's tracks.csv, or another `split_lists`")
    chosen = {p: sorted(c for c in clip_genres if parts.get(c) == p) for p in PARTS}
    return Split(**chosen, excluded=sorted(c for c in clip_genres if c not in parts), missing=[],
                 source={"kind": "labels", "labels": source})


# Split lists that ship with genre-tf, by the name `--split-lists` accepts for them.
BUILTIN_SPLITS = {"gtzan-filtered": Path(__file__).parents[1] / "data" / "gtzan_filtered"}


def split_from_lists(directory: str | Path, clip_genres: dict[str, str]) -> Split:
    """Read train*/valid*/test*.txt lists of `genre/clip.ext` lines, matching on clip id (the
    original GTZAN ships .au, the Kaggle copy .wav). `directory` may name a built-in split."""
    directory = BUILTIN_SPLITS.get(str(directory), Path(directory))
    if not directory.is_dir():
        raise SplitError(f"{directory}: split list folder does not exist")
    parts: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    missing: list[str] = []
    for part in PARTS:
        path = _list_file(directory, part)
        ids = []
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            clip_id = Path(line).stem
            if clip_id in owner:
                raise SplitError(f"{path}: clip '{clip_id}' is also in the {owner[clip_id]} list")
            owner[clip_id] = part
            if clip_id in clip_genres:
                ids.append(clip_id)
            else:
                missing.append(clip_id)
        parts[part] = sorted(ids)
    excluded = sorted(set(clip_genres) - set(owner))
    return Split(**parts, excluded=excluded, missing=sorted(missing),
                 source={"kind": "lists", "dir": str(directory.resolve())})


def cv_splits(clip_genres: dict[str, str], k: int, seed: int) -> list[Split]:
    """K folds over clips, stratified by genre; each fold's rest is split 80/20 into train/valid."""
    from sklearn.model_selection import StratifiedKFold

    clips = sorted(clip_genres)
    genres = [clip_genres[c] for c in clips]
    fewest = min(genres.count(g) for g in set(genres))
    if fewest < k:
        raise SplitError(f"`cv` {k} needs at least {k} clips in every genre; the smallest genre has {fewest}")
    splits = []
    for i, (rest, test) in enumerate(StratifiedKFold(k, shuffle=True, random_state=seed).split(clips, genres)):
        inner = random_split({clips[j]: genres[j] for j in rest}, (0.8, 0.2, 0.0), seed)
        splits.append(Split(train=inner.train, valid=inner.valid, test=sorted(clips[j] for j in test), excluded=[],
                            missing=[], source={"kind": "cv", "folds": k, "fold": i + 1, "seed": seed}))
    return splits


def check_split(split: Split, clip_genres: dict[str, str], genres: list[str], untested: bool) -> None:
    """`untested`: a final run on all clips (test ratio 0), whose test split is empty on purpose."""
    for part in PARTS:
        if not split.part(part) and not (untested and part == "test"):
            raise SplitError(f"the {part} split is empty ({split.summary()}); use other `split_ratios` or lists, "
                             f"`split_lists` {RANDOM_SPLIT} for a random split, or more clips")
    trained = {clip_genres[c] for c in split.train}
    if len(trained) < 2:
        raise SplitError(f"the train split holds clips of one genre ({', '.join(trained) or 'none'}); a classifier "
                         "needs at least two: add clips of another genre")
    missing = [g for g in genres if g not in trained]
    if missing:
        subject = f"genre {missing[0]} has" if len(missing) == 1 else f"genres {listed(missing, 10)} have"
        raise SplitError(f"{subject} no clips in the train split ({split.summary()}); add clips or change the split")
