"""The lazy public API as type checkers and IDEs see it: every name of `_API` imported under TYPE_CHECKING
from the module `_API` names, and nothing of it imported when `import genre_tf` runs."""
import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import genre_tf

PACKAGE = Path(genre_tf.__file__).parent


def type_checking_imports() -> dict[str, str]:
    """Name -> module (as `_API` writes it) of the imports in genre_tf/__init__.py's `if TYPE_CHECKING:` block."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    (block,) = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    imported = {}
    for node in block.body:
        if isinstance(node, ast.ImportFrom):
            assert node.level == 1, ast.unparse(node)
            for alias in node.names:
                assert alias.asname == alias.name, f"{ast.unparse(node)}: not marked as re-exported (`X as X`)"
                imported[alias.name] = node.module
    return imported


def test_the_type_checking_block_imports_every_public_name_from_its_module():
    assert type_checking_imports() == genre_tf._API


def test_import_genre_tf_imports_none_of_its_api():
    code = ("import sys, genre_tf; "
            "print(sorted(m for m in sys.modules if m.startswith(('genre_tf.', 'tensorflow', 'keras'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent).stdout
    assert loaded.strip() == "[]"


def test_the_package_says_it_is_typed():
    """PEP 561: the py.typed marker, and pyproject.toml ships it in the wheel."""
    assert (PACKAGE / "py.typed").is_file()
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["genre_tf"]
