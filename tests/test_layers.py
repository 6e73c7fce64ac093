"""The package's layers: each sub-package imports only from those below it (its own modules aside),
so the library reads top-down and has no import cycles."""
import ast
from pathlib import Path

import genre_tf

PACKAGE = Path(genre_tf.__file__).parent
LAYERS = ("core", "config", "io", "features", "models", "training", "engines", "workflows", "serving", "cli")


def imported_packages(path: Path) -> set[str]:
    """The genre_tf sub-packages a module imports from, at any depth in it (functions too)."""
    here = path.relative_to(PACKAGE).parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[:len(here) - (node.level - 1)]
            target = (*base, *(node.module.split(".") if node.module else ()))
            found |= {target[0]} if target else {alias.name for alias in node.names}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found |= {n.split(".")[1] for n in names if n and n.startswith("genre_tf.")}
    return found


def test_every_module_imports_only_its_own_layer_or_those_below():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) == 1:
            continue  # __init__ (the public API) and __main__ sit above every layer
        layer = LAYERS.index(parts[0])
        upward += [f"{path.relative_to(PACKAGE)} imports {p}" for p in imported_packages(path)
                   if p in LAYERS and LAYERS.index(p) > layer]
    assert not upward, upward
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(LAYERS)


def test_the_checker_reads_every_kind_of_import():
    module = PACKAGE / "io" / "store.py"
    assert "core" in imported_packages(module) and "workflows" not in imported_packages(module)
    assert "models" in imported_packages(PACKAGE / "workflows" / "predict.py")  # `from .. import models`
