"""What a sink reported for each token, to check that every token got exactly one outcome.

Why shared: the Event API and GraphQL mutation sinks take the same three callbacks (sent, rejected,
failed) and promise the same accounting, so their tests record and check outcomes the same way; each test
module adds only how its sink is built.
"""

from __future__ import annotations

from collections import Counter

from fluentsync.connectors.fluent import FluentError
from fluentsync.streams.sinks import BatchResult

__all__ = ["TokenOutcomes"]


class TokenOutcomes:
    """Callbacks that record every token's outcome, to check that each token gets exactly one."""

    def __init__(self) -> None:
        self.sent: list[BatchResult[int]] = []
        self.rejected: list[tuple[list[int], str]] = []
        self.failed: list[tuple[list[int], FluentError]] = []

    async def on_sent(self, result: BatchResult[int]) -> None:
        self.sent.append(result)

    async def on_rejected(self, tokens: list[int], reason: str) -> None:
        self.rejected.append((tokens, reason))

    async def on_failed(self, tokens: list[int], error: FluentError) -> None:
        self.failed.append((tokens, error))

    def sent_tokens(self) -> list[int]:
        return sorted(t for r in self.sent for t in r.tokens)

    def rejected_tokens(self) -> list[int]:
        return sorted(t for tokens, _ in self.rejected for t in tokens)

    def failed_tokens(self) -> list[int]:
        return sorted(t for tokens, _ in self.failed for t in tokens)

    def assert_each_once(self, tokens: range | list[int]) -> None:
        seen = Counter(self.sent_tokens() + self.rejected_tokens() + self.failed_tokens())
        assert seen == Counter(tokens), seen
