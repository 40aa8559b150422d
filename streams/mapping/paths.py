"""Path expressions of the UniversalMapper format (sdk-parity.md §3.1-§3.2), compiled once.

A path such as ``items[0].ref`` is split into *steps* when the mapping is compiled, so that reading or
writing a record is a short loop over a tuple instead of string parsing per record. Keys are literal:
``@attr``, ``#text`` and ``$`` are ordinary keys; there is no quoting and no escaped dot.

``MISSING`` stands for JavaScript's ``undefined`` (absent) and is distinct from ``None`` (``null``):
several resolvers treat the two differently (``sdk.parseDate``: ``null`` → epoch 0, missing → null).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "MISSING",
    "Missing",
    "PathSyntaxError",
    "Step",
    "compile_path",
    "get_path",
    "is_empty",
    "set_path",
    "split_wildcard",
]


class Missing:
    """The type of :data:`MISSING` (JS ``undefined``); falsy, a singleton, and never equal to ``None``."""

    _instance: Missing | None = None

    def __new__(cls) -> Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = Missing()

#: A compiled step: a ``str`` key into an object or an ``int`` index into an array.
Step = str | int


class PathSyntaxError(ValueError):
    """A path expression is malformed; ``suggestion`` says how to write it."""

    def __init__(self, message: str, suggestion: str) -> None:
        super().__init__(message)
        self.suggestion = suggestion


_SEGMENT = re.compile(r"^([^\[\]]*)((?:\[\d+\])*)$")
_INDEX = re.compile(r"\[(\d+)\]")


def compile_path(path: str) -> tuple[Step, ...]:
    """Split ``a.b[2].c`` into ``("a", "b", 2, "c")``.

    Malformed paths (empty segments, brackets that are not ``[<int>]``, a ``[*]`` wildcard) raise
    :class:`PathSyntaxError` so that a bad mapping file fails at start-up, not on the first record.
    """
    if not isinstance(path, str) or path == "":
        raise PathSyntaxError("path is empty", "give a key such as 'sku' or 'items[0].ref'")
    steps: list[Step] = []
    for segment in path.split("."):
        if segment == "":
            raise PathSyntaxError(f"path {path!r} has an empty segment", "remove the doubled, leading or trailing '.'")
        if "[*]" in segment:
            raise PathSyntaxError(
                f"path {path!r} uses '[*]' here", "'[*]' is only allowed once, in the source of an isArray field"
            )
        match = _SEGMENT.match(segment)
        if match is None:
            raise PathSyntaxError(
                f"segment {segment!r} of path {path!r} has malformed brackets", "indexes are written name[<int>]"
            )
        name, indexes = match.groups()
        if name:
            steps.append(name)
        elif not indexes:  # pragma: no cover - excluded by the empty check above
            raise PathSyntaxError(f"path {path!r} has an empty segment", "remove the extra '.'")
        steps.extend(int(i) for i in _INDEX.findall(indexes))
    return tuple(steps)


def split_wildcard(source: str) -> tuple[str, str] | None:
    """Split ``arrayPath[*].nodePath`` once (§3.3.1); ``None`` when there is no ``[*]``.

    The caller rejects more than one ``[*]`` (the reference silently yields ``[]`` for it).
    """
    head, sep, tail = source.partition("[*]")
    if not sep:
        return None
    return head, tail[1:] if tail.startswith(".") else tail


def get_path(obj: Any, steps: tuple[Step, ...]) -> Any:
    """Read a compiled path: ``None`` or absent *along* the path gives :data:`MISSING`.

    A ``null`` at the very end is returned as ``None`` (JS ``get`` returns the null it finds), which keeps
    ``sdk.parseDate``'s null-versus-missing distinction. A numeric key on a list works like JS
    (``items.0.ref``), and an index on an object reads the key ``"0"``.
    """
    if len(steps) == 1 and obj.__class__ is dict and steps[0].__class__ is str:
        return obj.get(steps[0], MISSING)  # fast path: a flat CSV column
    cur = obj
    for step in steps:
        if cur is None or cur is MISSING:
            return MISSING
        if isinstance(step, str):
            if isinstance(cur, Mapping):
                cur = cur.get(step, MISSING)
            elif isinstance(cur, list) and step.isdigit():
                i = int(step)
                cur = cur[i] if i < len(cur) else MISSING
            else:
                return MISSING
        elif isinstance(cur, list):
            cur = cur[step] if step < len(cur) else MISSING
        elif isinstance(cur, Mapping):
            cur = cur.get(str(step), MISSING)
        else:
            return MISSING
    return cur


def set_path(obj: dict[str, Any], steps: tuple[Step, ...], value: Any) -> None:
    """Write a compiled target path, creating intermediate objects and arrays (§3.1).

    An array is padded with ``{}`` up to the index; an existing non-container in the way is replaced.
    """
    if len(steps) == 1 and isinstance(steps[0], str):
        obj[steps[0]] = value
        return
    cur: Any = obj
    last = len(steps) - 1
    for i, step in enumerate(steps):
        if i == last:
            if isinstance(step, int):
                while len(cur) <= step:
                    cur.append({})
            cur[step] = value
            return
        want_list = isinstance(steps[i + 1], int)
        if isinstance(step, int):
            while len(cur) <= step:
                cur.append({})
            nxt = cur[step]
        else:
            nxt = cur.get(step)
        if not isinstance(nxt, list if want_list else dict):
            nxt = [] if want_list else {}
            cur[step] = nxt
        cur = nxt


def is_empty(value: Any) -> bool:
    """The reference's "missing or empty": ``None``, absent or ``''``. ``0`` and ``False`` are values."""
    return value is None or value is MISSING or (isinstance(value, str) and value == "")
