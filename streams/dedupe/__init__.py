"""Change detection: the canonical hash of a record's configured fields (the dedupe baseline's value),
and :mod:`~fluentsync.streams.dedupe.baseline`, the baseline table written in bulk (imported from there:
it needs Faust, the hash does not)."""

from fluentsync.streams.dedupe.hashing import HashAlgorithm, RecordHasher

__all__ = ["HashAlgorithm", "RecordHasher"]
