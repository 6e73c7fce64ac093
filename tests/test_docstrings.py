"""Every name `genre_tf` exports is documented in the Google style the API reference renders (mkdocs.yml:
`docstring_style: google`): a function names each parameter under Args: and says what it returns under
Returns:, a dataclass names each field under Attributes:, a class whose constructor takes other arguments
names them under Args:, and the public methods and properties of the exported classes are documented the
same way. The dict constants (FEATURES, MODELS) cannot hold a docstring and are left out."""
import dataclasses
import inspect
import re

import pytest

import genre_tf

LEFT_OUT = {"__version__", "FEATURES", "MODELS"}
NAMES = [name for name in genre_tf.__all__ if name not in LEFT_OUT]
NO_ARGUMENT = {"self", "cls"}
SECTION = re.compile(r"^(\w[\w ]*):\s*$")


def docstring(obj) -> str | None:
    """The object's own docstring: not a base class's, nor the signature dataclasses put in its place."""
    doc = obj.__doc__
    if not doc or not doc.strip():
        return None
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
        return None
    return inspect.cleandoc(doc)


def items(doc: str) -> dict[str, list[str]]:
    """{section title: its items} of a Google-style docstring, as mkdocstrings reads them: an item starts at
    a line at the section's first indentation; its continuation lines are indented further."""
    found: dict[str, list[str]] = {}
    title, indent = None, None
    for line in doc.splitlines():
        heading = SECTION.match(line)
        if heading:
            title, indent = heading.group(1), None
            found[title] = []
            continue
        if title is None or not line.strip():
            continue
        if not line[0].isspace():  # prose after the sections
            title = None
            continue
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth == indent:
            found[title].append(line.strip())
    return found


def sections(doc: str) -> dict[str, set[str]]:
    """{section title: the names its items document}: `name: ...` or `name (type): ...`."""
    return {title: {m.group(1) for item in entries if (m := re.match(r"\**(\w+)(?: \([^)]*\))?:", item))}
            for title, entries in items(doc).items()}


def parameters(function) -> list[str]:
    return [p.name for p in inspect.signature(function).parameters.values()
            if p.name not in NO_ARGUMENT and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def returns_something(function) -> bool:
    annotation = inspect.signature(function).return_annotation
    return annotation not in (None, "None")


def function_problems(where: str, function) -> list[str]:
    """What a function's docstring lacks: itself, an Args: entry per parameter, Returns: where it returns."""
    doc = docstring(function)
    if doc is None:
        return [f"{where}: no docstring"]
    found = sections(doc)
    problems = [f"{where}: parameter `{name}` not under Args:" for name in parameters(function)
                if name not in found.get("Args", set())]
    if returns_something(function) and "Returns" not in found:
        problems.append(f"{where}: no Returns: section")
    if len(items(doc).get("Returns", [None])) != 1:  # each line at the section's indentation is one more value
        problems.append(f"{where}: Returns: holds more than one item; indent its continuation lines")
    return problems


def public_members(cls) -> list[tuple[str, object]]:
    """The public methods and properties a class defines itself (inherited ones are documented where they
    are defined)."""
    members = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (classmethod, staticmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            members.append((name, value))
    return members


def class_problems(name: str, cls) -> list[str]:
    doc = docstring(cls)
    if doc is None:
        return [f"{name}: no docstring"]
    found = sections(doc)
    problems = []
    if dataclasses.is_dataclass(cls):
        problems += [f"{name}: field `{f.name}` not under Attributes:" for f in dataclasses.fields(cls)
                     if f.name not in found.get("Attributes", set())]
    elif "__init__" in vars(cls):  # a constructor of its own: its arguments under Args:, in either docstring
        init_doc = docstring(cls.__init__)
        documented = found.get("Args", set()) | (sections(init_doc).get("Args", set()) if init_doc else set())
        problems += [f"{name}: constructor argument `{arg}` not under Args:" for arg in parameters(cls.__init__)
                     if arg not in documented]
    for member, value in public_members(cls):
        where = f"{name}.{member}"
        if isinstance(value, property):
            problems += [] if docstring(value) else [f"{where}: no docstring"]
        else:
            problems += function_problems(where, value)
    return problems


def problems_of(name: str) -> list[str]:
    obj = getattr(genre_tf, name)
    if inspect.isfunction(obj):
        return function_problems(name, obj)
    if inspect.isclass(obj):
        return class_problems(name, obj)
    return [] if docstring(obj) else [f"{name}: no docstring"]


@pytest.mark.parametrize("name", NAMES)
def test_each_exported_name_is_documented_in_google_style(name):
    problems = problems_of(name)
    assert not problems, "\n".join(problems)


def test_a_missing_entry_is_named():
    def documented(first: str, second: int, *rest, **options) -> int:
        """Summary.

        Args:
            first (str): what it is, on a line
                that goes on: with a colon.
            second: a count.

        Returns:
            What comes back.
        """

    def undocumented(first: str, second: int) -> int:
        """Summary.

        Args:
            first: what it is.
        """

    def unindented(first: str) -> int:
        """Summary.

        Args:
            first: what it is.

        Returns:
            What comes back, on a line
            that mkdocstrings reads as a second value.
        """

    assert sections(inspect.cleandoc(documented.__doc__))["Args"] == {"first", "second"}
    assert function_problems("documented", documented) == []
    assert function_problems("undocumented", undocumented) == [
        "undocumented: parameter `second` not under Args:", "undocumented: no Returns: section"]
    assert function_problems("unindented", unindented) == [
        "unindented: Returns: holds more than one item; indent its continuation lines"]
