"""Async client for the Fluent Commerce APIs: OAuth, GraphQL (with streaming pagination), Job/Batch
REST and the Event API.

Start with :class:`FluentClient`; configuration is :class:`FluentSettings` (``FLUENT_*`` environment
variables or a Fluent CLI profile); every error is a :class:`FluentError` (hierarchy in
:mod:`.errors`). Behaviour follows ``/work/shared/spec/fluent-api.md`` §1-§6; docs/fluent-client.md
has examples.
"""

from .auth import Credentials, TokenManager
from .client import FluentClient
from .config import FluentSettings, normalise_base_url
from .errors import (
    FluentAuthError,
    FluentClientError,
    FluentConfigError,
    FluentError,
    FluentGraphQLError,
    FluentHTTPError,
    FluentJobClosedError,
    FluentNetworkError,
    FluentPaginationError,
    FluentRateLimitError,
    FluentServerError,
    FluentTimeoutError,
    FluentTransportError,
    FluentValidationError,
)
from .events import EventResponse, EventsAPI, EventSearchPage
from .graphql import ErrorClassification, GraphQLAPI, GraphQLResult, classify_error, classify_errors
from .jobs import BatchStatus, JobsAPI, JobStatus, is_terminal, normalise_status, status_kind
from .pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CursorVariables,
    Page,
    PaginationStats,
    Paginator,
    detect_cursor_variables,
    find_connection,
)
from .profiles import FluentProfile, ProfileInfo, list_profiles, load_profile, profile_info
from .retry import RetryPolicy
from .timeouts import Timeouts
from .transport import RequestCore, Response

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "BatchStatus",
    "Credentials",
    "CursorVariables",
    "ErrorClassification",
    "EventResponse",
    "EventSearchPage",
    "EventsAPI",
    "FluentAuthError",
    "FluentClient",
    "FluentClientError",
    "FluentConfigError",
    "FluentError",
    "FluentGraphQLError",
    "FluentHTTPError",
    "FluentJobClosedError",
    "FluentNetworkError",
    "FluentPaginationError",
    "FluentProfile",
    "FluentRateLimitError",
    "FluentServerError",
    "FluentSettings",
    "FluentTimeoutError",
    "FluentTransportError",
    "FluentValidationError",
    "GraphQLAPI",
    "GraphQLResult",
    "JobStatus",
    "JobsAPI",
    "Page",
    "PaginationStats",
    "Paginator",
    "ProfileInfo",
    "RequestCore",
    "Response",
    "RetryPolicy",
    "Timeouts",
    "TokenManager",
    "classify_error",
    "classify_errors",
    "detect_cursor_variables",
    "find_connection",
    "is_terminal",
    "list_profiles",
    "load_profile",
    "normalise_base_url",
    "normalise_status",
    "profile_info",
    "status_kind",
]
