"""Engines run a model over the windows of many audio files: `local` (threads and one model in this
process) and `ray` (tasks and actors on a Ray cluster), behind one interface (base.py). Extraction,
library labelling and `predict FILE...` pick theirs here, by name."""
from ..config import DECODE_WORKERS, ENGINES, RayParams
from ..core.errors import require
from .base import ComputeFactory, Decode, Engine, Finished
from .local import LocalEngine


def make_engine(name: str = ENGINES[0], workers: int = DECODE_WORKERS, ray: RayParams = RayParams()) -> Engine:
    """The engine called `name`: `workers` decoding threads for the local one, `ray` for Ray's.

    Args:
        name: "local" (threads and one model in this process) or "ray" (tasks and actors on a Ray cluster).
        workers: the local engine's decoding threads.
        ray: the Ray engine's cluster and actors; Ray is started when the engine is first used, not here.

    Returns:
        The engine, for `label_songs` (`extract` and `label_library` make theirs from a name).

    Raises:
        GenreTfError: an unknown `name`, or `workers` below 1 for the local engine.
    """
    require(name in ENGINES, f"`engine` must be {' or '.join(ENGINES)}, not '{name}'")
    if name == "ray":
        from .ray import RayEngine  # Ray is an optional extra: imported where it is used

        return RayEngine(ray)
    return LocalEngine(workers)


__all__ = ["ComputeFactory", "Decode", "Engine", "Finished", "LocalEngine", "make_engine"]
