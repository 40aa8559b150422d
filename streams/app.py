"""The Faust application factory, with settings that work on the embedded broker and on real Kafka.

Every fluentsync worker is one Faust app built here, so the choices that matter for correctness live
in one place:

- **At-least-once** (``processing_guarantee="at_least_once"``). The embedded broker refuses
  InitProducerId, so Faust's ``exactly_once`` fails on it; it is an opt-in for real Kafka only and no
  correctness property of fluentsync depends on it (design.md §3).
- **Fast group membership** on the embedded broker: a first join waits about the rebalance timeout and
  a re-join after a member left waits about the session timeout, so tests and the demo use short ones.
  Production keeps Kafka's defaults unless configured.
- **No implicit topics**: ``topic_allow_declare`` stays on for Faust's own changelog and leader topics
  (Faust creates them with the app's partition count), but source topics are created explicitly by
  :mod:`fluentsync.streams.kafka.topics` with the same partition count, so co-partitioning holds.
- **Our aiokafka transports** (:mod:`fluentsync.streams.kafka.faust_transport`): ``fluentsync-embedded://``
  for the embedded broker, ``fluentsync-kafka://`` for real Kafka; both keep a worker from losing the
  first records of its stream partitions after a rebalance (Faust/aiokafka race).
- **The process's cluster settings** (:mod:`fluentsync.streams.kafka.connection`): TLS/SASL credentials
  (``broker_credentials``, which reach the consumer, producer and topic creation of our transports) and
  the replication factor of changelogs and Faust's internal topics; call ``configure_kafka`` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faust

__all__ = ["FaustOptions", "create_app", "table_options"]


def table_options() -> dict[str, Any]:
    """RocksDB options for every table fluentsync creates (a fresh dict: Faust pops keys from it).

    Why not Faust's defaults: they give each partition's database 3 write buffers of 64 MB and a 2 GB
    block cache, so a worker's RSS grew with the files it processed until the memtables of every table
    partition were full (measured with ``bench/bench_pipeline.py``: 225 MB after 200k records, 507 MB
    after 1M). Small write buffers flush to disk sooner; reads of recent keys still hit the memtable or
    the OS page cache.
    """
    return {"write_buffer_size": 4 * 1024 * 1024, "max_write_buffer_number": 2, "block_cache_size": 8 * 1024 * 1024}


@dataclass(frozen=True)
class FaustOptions:
    """The Faust settings fluentsync chooses; everything else keeps Faust's defaults."""

    bootstrap: str
    #: The broker is the embedded one: use the transport that works around its end-offset bug.
    embedded: bool = False
    partitions: int = 1
    data_dir: Path = Path("var/faust")
    store: str = "rocksdb://"  #: ``rocksdb://`` (rocksdict, survives restarts) or ``memory://``
    web_enabled: bool = False
    web_port: int = 6066
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    #: Short group timeouts (seconds) for the embedded broker; ``None`` keeps Faust/Kafka defaults.
    session_timeout: float | None = 6.0
    rebalance_timeout: float | None = 6.0
    heartbeat_interval: float | None = 1.0
    commit_interval: float = 1.0
    #: How long a fetch may wait at the broker for data (ms): the latency each agent hop can add when
    #: traffic is light; lower costs more idle fetches. See ``faust_transport.FETCH_MAX_WAIT_MS``.
    fetch_max_wait_ms: int = 20
    extra: tuple[tuple[str, Any], ...] = ()


def create_app(app_id: str, options: FaustOptions, **kwargs: Any) -> faust.App:
    """A configured :class:`faust.App`; ``kwargs`` override any setting."""
    from fluentsync.streams.kafka import faust_transport
    from fluentsync.streams.kafka.connection import faust_settings

    scheme = faust_transport.SCHEME if options.embedded else faust_transport.KAFKA_SCHEME
    settings: dict[str, Any] = {
        "broker": f"{scheme}://{options.bootstrap}",
        "store": options.store,
        "datadir": str(options.data_dir),
        "topic_partitions": options.partitions,
        "processing_guarantee": options.processing_guarantee,
        "web_enabled": options.web_enabled,
        "web_port": options.web_port,
        "web_host": "127.0.0.1",
        "broker_commit_interval": options.commit_interval,
        "table_standby_replicas": 0,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
    }
    settings.update(faust_settings())  # broker_credentials, topic_replication_factor
    if options.session_timeout is not None:
        settings["broker_session_timeout"] = options.session_timeout
    if options.rebalance_timeout is not None:
        settings["broker_rebalance_timeout"] = options.rebalance_timeout
    if options.heartbeat_interval is not None:
        settings["broker_heartbeat_interval"] = options.heartbeat_interval
    settings.update(dict(options.extra))
    settings.update(kwargs)
    app = faust.App(app_id, **settings)
    app.fluentsync_fetch_max_wait_ms = options.fetch_max_wait_ms  # type: ignore[attr-defined]  # read by the transport
    return app
