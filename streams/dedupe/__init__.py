"""Change detection: the canonical hash of a record's configured fields (the dedupe baseline's value)."""

from fluentsync.streams.dedupe.hashing import HashAlgorithm, RecordHasher

__all__ = ["HashAlgorithm", "RecordHasher"]
