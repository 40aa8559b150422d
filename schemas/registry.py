"""A Confluent-compatible schema registry over its REST API, and the pipeline's ``kafka.schema_registry``.

With ``kafka.schema_registry`` set, every record fluentsync writes to Kafka carries the Confluent wire
format (``00`` + 4-byte schema id + Avro body) instead of Avro single-object encoding, so tools built
around a registry (Kafka Connect, ksqlDB, Flink, kcat -s avro) read the topics as they are. Readers
accept both framings: the first byte tells them apart.

Why a synchronous client: the codec is synchronous (Faust serializers, encoders in hot loops), and the
registry is asked once per (subject, schema) and once per unknown id for the life of the process; both
directions are cached, so after the first message of a schema on a topic nothing blocks. The first call
does block the event loop for one round trip (a few milliseconds on a healthy registry); the timeout is
short for that reason.

Errors are :class:`SchemaRegistryError` (a ``RuntimeError``, deliberately not an
:class:`~fluentsync.schemas.codec.AvroCodecError`): a registry that is down, refuses the credentials or
rejects an incompatible schema is an operational problem, not a bad record, and must never send a
record to the dead letters. The one exception is an id the registry does not know while *decoding*:
that message cannot be read, and the codec reports it as a decode error.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from fluentsync.schemas.repository import UnknownSchemaError

__all__ = [
    "CONTENT_TYPE",
    "CompatibilityResult",
    "RegisteredSchema",
    "SchemaIncompatibleError",
    "SchemaInvalidError",
    "SchemaNotRegisteredError",
    "SchemaRegistryAuthError",
    "SchemaRegistryClient",
    "SchemaRegistryConfig",
    "SchemaRegistryError",
    "SchemaRegistryUnavailable",
    "SubjectNotFoundError",
    "UnknownSchemaIdError",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_ACCEPT = f"{CONTENT_TYPE}, application/vnd.schemaregistry+json; q=0.9, application/json; q=0.5"

Compatibility = Literal[
    "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"
]
SubjectStrategy = Literal["topic_name", "record_name", "topic_record_name"]


class SchemaRegistryConfig(BaseModel):
    """``kafka.schema_registry`` in the pipeline file: where the registry is and how subjects are named."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str  #: ``http(s)://host:port[/path]``, e.g. ``${SCHEMA_REGISTRY_URL}``
    subject_strategy: SubjectStrategy = "topic_name"
    """``topic_name``: ``<topic>-value`` (one record type per topic, Confluent's default);
    ``record_name``: the record's full name; ``topic_record_name``: ``<topic>-<record full name>``."""
    compatibility: Compatibility | None = None
    """Set on each subject fluentsync writes, before its first registration; None: the registry's own."""
    auto_register: bool = True  #: false: only look schemas up; an unregistered schema is an error
    username: str | None = None  #: HTTP basic auth (Confluent Cloud: the API key)
    password: SecretStr | None = None  #: HTTP basic auth (Confluent Cloud: the API secret)
    timeout: float = Field(default=5.0, gt=0, le=60)  #: seconds per request (the first encode waits on it)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL of the schema registry")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _auth(self) -> SchemaRegistryConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        return self


class SchemaRegistryError(RuntimeError):
    """The schema registry could not do what was asked (see the subclasses)."""


class SchemaRegistryUnavailable(SchemaRegistryError):
    """No answer, or a 5xx, after the retries."""


class SchemaRegistryAuthError(SchemaRegistryError):
    """401/403: the registry refused the credentials (``kafka.schema_registry.username/password``)."""


class SubjectNotFoundError(SchemaRegistryError):
    """40401: the subject has no versions."""


class SchemaNotRegisteredError(SchemaRegistryError):
    """The schema is not registered under the subject (40401/40403 on lookup; ``auto_register: false``)."""


class SchemaIncompatibleError(SchemaRegistryError):
    """409: the subject's compatibility level refuses this schema."""


class SchemaInvalidError(SchemaRegistryError):
    """422 (42201 invalid schema, 42203 invalid compatibility level...)."""


class UnknownSchemaIdError(SchemaRegistryError, UnknownSchemaError):
    """40403 on ``GET /schemas/ids/{id}``: a message names an id this registry never issued."""


@dataclass(frozen=True)
class RegisteredSchema:
    subject: str
    id: int
    version: int


@dataclass(frozen=True)
class CompatibilityResult:
    is_compatible: bool
    messages: list[str] = field(default_factory=list)


class SchemaRegistryClient:
    """The registry's REST API (``application/vnd.schemaregistry.v1+json``), ids cached both ways.

    Implements :class:`~fluentsync.schemas.codec.SchemaRegistry` (``register``/``schema``) for the codec.
    ``transport`` is for tests (an in-memory registry); ``retries`` (``backoff`` seconds apart, growing)
    apply to connection errors and 5xx only.
    """

    def __init__(self, url: str, *, username: str | None = None, password: SecretStr | None = None,
                 auto_register: bool = True, compatibility: Compatibility | None = None, timeout: float = 5.0,
                 retries: int = 2, backoff: float = 0.2, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.config: SchemaRegistryConfig | None = None  #: what it was built from (:meth:`from_config`)
        self.auto_register = auto_register
        self.compatibility_level = compatibility
        self.retries, self.backoff = retries, backoff
        auth = httpx.BasicAuth(username, password.get_secret_value()) if username and password else None
        self._http = httpx.Client(base_url=self.url, auth=auth, timeout=timeout, transport=transport,
                                  headers={"Accept": _ACCEPT, "Content-Type": CONTENT_TYPE})
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, str] = {}
        self._configured: set[str] = set()  # subjects whose compatibility this process has set

    @classmethod
    def from_config(cls, config: SchemaRegistryConfig, **kwargs: Any) -> SchemaRegistryClient:
        client = cls(config.url, username=config.username, password=config.password,
                     auto_register=config.auto_register, compatibility=config.compatibility,
                     timeout=config.timeout, **kwargs)
        client.config = config
        return client

    @property
    def where(self) -> str:
        """The registry's URL for messages, without any user:password it may contain."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"

    # -- the codec's protocol -----------------------------------------------------------------------

    def register(self, subject: str, schema_json: str) -> int:
        """The id of ``schema_json`` under ``subject``: registered if needed (idempotent), looked up only
        with ``auto_register: false``. Cached: the registry is asked once per (subject, schema)."""
        cached = self._ids.get((subject, schema_json))
        if cached is not None:
            return cached
        with self._lock:
            if (subject, schema_json) in self._ids:
                return self._ids[(subject, schema_json)]
            if not self.auto_register:
                try:
                    schema_id = self.lookup(subject, schema_json).id
                except SchemaNotRegisteredError as exc:
                    raise SchemaNotRegisteredError(
                        f"{exc}; kafka.schema_registry.auto_register is false, so fluentsync does not"
                        f" register it: register it first (POST {self.where}/subjects/{subject}/versions)"
                    ) from None
            else:
                self._ensure_compatibility(subject)
                try:
                    answer = self._call("POST", f"/subjects/{_q(subject)}/versions", {"schema": schema_json})
                except SchemaIncompatibleError as exc:
                    raise SchemaIncompatibleError(self._incompatible(subject, schema_json, exc)) from None
                schema_id = int(answer["id"])
                log.info("schema registry %s: %s is id %d under subject %s", self.where,
                         _record_name(schema_json), schema_id, subject)
            self._ids[(subject, schema_json)] = schema_id
            self._schemas.setdefault(schema_id, schema_json)
            return schema_id

    def schema(self, schema_id: int) -> str:
        """The schema JSON of a registry id (cached; ids are immutable)."""
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        try:
            answer = self._call("GET", f"/schemas/ids/{int(schema_id)}")
        except (SchemaNotRegisteredError, SubjectNotFoundError) as exc:
            raise UnknownSchemaIdError(f"schema id {schema_id} is not in the schema registry at {self.where}"
                                       f" ({exc})") from None
        if answer.get("schemaType", "AVRO") != "AVRO":
            raise UnknownSchemaIdError(f"schema id {schema_id} at {self.where} is a {answer['schemaType']}"
                                       " schema, not Avro")
        text = str(answer["schema"])
        self._schemas[schema_id] = text
        return text

    # -- the rest of the API ----------------------------------------------------------------------------

    def lookup(self, subject: str, schema_json: str) -> RegisteredSchema:
        """``POST /subjects/{subject}``: the schema's id and version there, without registering it."""
        try:
            answer = self._call("POST", f"/subjects/{_q(subject)}", {"schema": schema_json})
        except SubjectNotFoundError:
            raise SchemaNotRegisteredError(f"subject {subject!r} does not exist at {self.where}"
                                           f" (looking up {_record_name(schema_json)})") from None
        return RegisteredSchema(str(answer.get("subject", subject)), int(answer["id"]), int(answer["version"]))

    def compatibility(self, subject: str | None = None) -> str:
        """The compatibility level of ``subject`` (falling back to the global one), or the global one."""
        if subject is None:
            answer = self._call("GET", "/config")
        else:
            answer = self._call("GET", f"/config/{_q(subject)}", params={"defaultToGlobal": "true"})
        return str(answer.get("compatibilityLevel") or answer.get("compatibility"))

    def set_compatibility(self, level: Compatibility, subject: str | None = None) -> None:
        """``PUT /config[/{subject}]``."""
        self._call("PUT", "/config" if subject is None else f"/config/{_q(subject)}", {"compatibility": level})

    def check_compatibility(self, subject: str, schema_json: str) -> CompatibilityResult:
        """Would ``schema_json`` be accepted under ``subject`` (against its latest version)?

        A subject without versions accepts anything."""
        try:
            answer = self._call("POST", f"/compatibility/subjects/{_q(subject)}/versions/latest",
                                {"schema": schema_json}, params={"verbose": "true"})
        except SubjectNotFoundError:
            return CompatibilityResult(True)
        return CompatibilityResult(bool(answer["is_compatible"]), [str(m) for m in answer.get("messages") or []])

    def subjects(self) -> list[str]:
        return [str(s) for s in self._call("GET", "/subjects")]

    def versions(self, subject: str) -> list[int]:
        return [int(v) for v in self._call("GET", f"/subjects/{_q(subject)}/versions")]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SchemaRegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------------

    def _ensure_compatibility(self, subject: str) -> None:
        if self.compatibility_level is None or subject in self._configured:
            return
        self.set_compatibility(self.compatibility_level, subject)
        self._configured.add(subject)

    def _incompatible(self, subject: str, schema_json: str, exc: SchemaIncompatibleError) -> str:
        """The failure path only: one more request for the level, so the message says what to do."""
        try:
            level = self.compatibility(subject)
        except SchemaRegistryError:
            level = "its configured"
        return (f"schema registry {self.where} refused {_record_name(schema_json)} under subject {subject!r}:"
                f" not {level} compatible with the registered version(s) ({exc}). Make the change compatible"
                " (add fields with defaults, keep removed fields' defaults) or change the subject's"
                " compatibility (kafka.schema_registry.compatibility)")

    def _call(self, method: str, path: str, body: Any = None, *, params: dict[str, str] | None = None) -> Any:
        content = None if body is None else json.dumps(body)
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(method, path, content=content, params=params)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}"
            else:
                if response.status_code < 500:
                    return self._answer(method, path, response)
                problem = f"HTTP {response.status_code} {_message(response)}"
            if attempt < self.retries:
                time.sleep(self.backoff * (attempt + 1))
        raise SchemaRegistryUnavailable(f"schema registry {self.where} unavailable: {method} {path}: {problem}"
                                        f" (after {self.retries + 1} attempts)")

    def _answer(self, method: str, path: str, response: httpx.Response) -> Any:
        if response.status_code < 300:
            return response.json()
        code, message = _error_code(response), _message(response)
        what = f"{method} {self.where}{path}: {message} (HTTP {response.status_code}, error {code})"
        if response.status_code in (401, 403):
            raise SchemaRegistryAuthError(f"schema registry refused the credentials: {what}; check"
                                          " kafka.schema_registry.username and password")
        if code == 40401:
            raise SubjectNotFoundError(what)
        if code in (40402, 40403):
            raise SchemaNotRegisteredError(what)
        if response.status_code == 409:
            raise SchemaIncompatibleError(what)
        if response.status_code == 422:
            raise SchemaInvalidError(what)
        raise SchemaRegistryError(what)


def _q(subject: str) -> str:
    return quote(subject, safe="")


def _error_code(response: httpx.Response) -> int:
    try:
        return int(response.json().get("error_code", response.status_code))
    except (ValueError, AttributeError, TypeError):
        return response.status_code


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:500]
    except (ValueError, AttributeError):
        return response.text[:200]


def _record_name(schema_json: str) -> str:
    """The full name of a record schema, for messages."""
    try:
        schema = json.loads(schema_json)
    except ValueError:
        return "schema"
    if not isinstance(schema, dict):
        return "schema"
    name, namespace = schema.get("name"), schema.get("namespace")
    if isinstance(name, str):
        return name if "." in name or not namespace else f"{namespace}.{name}"
    return str(schema.get("type", "schema"))
