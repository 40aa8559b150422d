"""Path syntax of the GraphQL mutation mapper for JSON/CSV sources (sdk-parity.md §6 "Path syntax").

This syntax differs from the UniversalMapper's (``mapping/paths.py``), so it has its own small compiler:

* ``a.b``, ``name[3]``, ``name['k']`` / ``name["k"]`` (a quoted key may contain dots and brackets);
* ``name[*]`` (or a ``*`` segment) maps the rest of the path over every element of the array;
* the whole path ``*`` is the current record itself;
* an index or wildcard applied to a value that is not an array **raises** :class:`MutationPathError`
  (the UniversalMapper would read key ``"0"`` instead); ``None`` or absent along the path gives
  :data:`~fluentsync.streams.mapping.paths.MISSING`.

XML-only forms (``elem@attr``, ``elem[attr=value]``, ``#text`` unwrapping) are not supported here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..paths import MISSING

__all__ = ["WILDCARD", "MutationPath", "MutationPathError", "compile_mutation_path", "resolve_path"]


class _Wildcard:
    __slots__ = ()

    def __repr__(self) -> str:
        return "WILDCARD"


WILDCARD: Final = _Wildcard()

MutationStep = str | int | _Wildcard


class MutationPathError(ValueError):
    """A path is malformed (at compile time) or does not fit the record (index on a non-array)."""


_TOKEN = re.compile(
    r"""\[\s*(?P<index>\d+)\s*\]"""
    r"""|\[\*\]"""
    r"""|\['(?P<sq>[^']*)'\]"""
    r"""|\["(?P<dq>[^"]*)"\]"""
    r"""|(?P<dot>\.)"""
    r"""|(?P<key>[^.\[\]]+)"""
)


@dataclass(frozen=True, slots=True)
class MutationPath:
    text: str
    steps: tuple[MutationStep, ...]

    def get(self, record: Any) -> Any:
        return resolve_path(record, self.steps, self.text)


def compile_mutation_path(text: str) -> MutationPath:
    """Compile ``text``; raises :class:`MutationPathError` for an empty or malformed path."""
    if not isinstance(text, str) or not text.strip():
        raise MutationPathError("path is empty")
    if text == "*":
        return MutationPath(text, ())
    steps: list[MutationStep] = []
    pos = 0
    expect_key = True  # at the start or right after a dot a key (or bracket) must follow
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise MutationPathError(f"path {text!r} has a malformed bracket at position {pos}")
        pos = m.end()
        if m.group("dot") is not None:
            if expect_key:
                raise MutationPathError(f"path {text!r} has an empty segment")
            expect_key = True
            continue
        if m.group("index") is not None:
            steps.append(int(m.group("index")))
        elif m.group(0) == "[*]":
            steps.append(WILDCARD)
        elif m.group("sq") is not None or m.group("dq") is not None:
            steps.append(m.group("sq") if m.group("sq") is not None else m.group("dq"))
        else:
            key = m.group("key")
            if not expect_key:  # pragma: no cover - the regex cannot produce two keys in a row
                raise MutationPathError(f"path {text!r} is malformed")
            steps.append(WILDCARD if key == "*" else key)
        expect_key = False
    if expect_key:
        raise MutationPathError(f"path {text!r} ends with '.'")
    return MutationPath(text, tuple(steps))


def resolve_path(obj: Any, steps: tuple[MutationStep, ...], text: str = "", start: int = 0) -> Any:
    """Read ``steps`` from ``obj``; a wildcard returns a list (absent elements become ``None``)."""
    cur = obj
    for i in range(start, len(steps)):
        step = steps[i]
        if cur is None or cur is MISSING:
            return MISSING
        if isinstance(step, _Wildcard):
            if not isinstance(cur, list):
                raise MutationPathError(f"path {text!r}: wildcard applied to a non-array ({type(cur).__name__})")
            out = []
            for item in cur:
                v = resolve_path(item, steps, text, i + 1)
                out.append(None if v is MISSING else v)
            return out
        if isinstance(step, int):
            if not isinstance(cur, list):
                raise MutationPathError(f"path {text!r}: index [{step}] applied to a non-array ({type(cur).__name__})")
            cur = cur[step] if step < len(cur) else MISSING
        elif isinstance(cur, Mapping):
            cur = cur.get(step, MISSING)
        else:
            return MISSING
    return cur
