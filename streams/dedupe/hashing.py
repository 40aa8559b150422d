"""The canonical hash of a record: what the dedupe baseline stores per record key (R21).

A record is *unchanged* when the hash of its configured fields equals the baseline's. The hash is taken
over a canonical serialisation - the configured fields in configured order, each JSON-encoded with its
type - so ``0``, ``""``, ``null`` and ``false`` hash differently (the reference SDK's string join made
``0`` and ``""`` equal after coercion), while the order of keys inside the record, or inside nested
objects, does not matter. An absent field hashes like ``null``: Fluent sees both as "not sent".

The fields version is part of the hash: bumping it (after changing which fields count) makes every
record "changed" once, which is what a changed definition of "changed" needs. SHA-256 by default;
``md5``/``sha1`` exist only for parity with baselines exported from the reference SDK.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any, Literal

__all__ = ["HashAlgorithm", "RecordHasher"]

HashAlgorithm = Literal["sha256", "sha1", "md5"]

_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
#: The same encoding, built once instead of per call (``JSONEncoder.encode`` builds its C encoder every
#: time) and without the circular-reference bookkeeping; a circular record (RecursionError) is encoded
#: again by ``_ENCODER``, which raises the usual ValueError.
try:
    from _json import make_encoder

    _FAST_ENCODER: Callable[[Any, int], Sequence[str]] | None = make_encoder(
        None, _ENCODER.default, encode_basestring, None, ":", ",", True, False, False)
except ImportError:  # pragma: no cover - a Python without the C accelerator
    _FAST_ENCODER = None
_HASHES = {"sha256": hashlib.sha256, "sha1": hashlib.sha1, "md5": hashlib.md5}


def _canonical_json(body: Any) -> str:
    if _FAST_ENCODER is not None:
        try:
            return "".join(_FAST_ENCODER(body, 0))
        except RecursionError:
            pass
    return _ENCODER.encode(body)


class RecordHasher:
    """``hasher(record) -> hex digest`` over ``fields`` (all fields, sorted, when ``fields`` is None)."""

    def __init__(
        self, fields: Sequence[str] | None = None, *, algorithm: HashAlgorithm = "sha256", version: str = "1"
    ) -> None:
        if algorithm not in ("sha256", "sha1", "md5"):
            raise ValueError(f"unknown hash algorithm {algorithm!r}; use sha256, sha1 or md5")
        if fields is not None and not fields:
            raise ValueError("hash fields cannot be an empty list (omit them to hash the whole record)")
        self.fields = list(fields) if fields is not None else None
        self.algorithm = algorithm
        self.version = version
        self._prefix = json.dumps([algorithm, version], separators=(",", ":")).encode()
        self._hash = _HASHES[algorithm]

    def canonical(self, record: Mapping[str, Any]) -> bytes:
        """The bytes that are hashed (exposed for debugging a surprising "changed")."""
        if self.fields is None:
            body: Any = record
        else:
            body = [record.get(field) for field in self.fields]
        return self._prefix + _canonical_json(body).encode()

    def __call__(self, record: Mapping[str, Any]) -> str:
        return self._hash(self.canonical(record), usedforsecurity=False).hexdigest()
