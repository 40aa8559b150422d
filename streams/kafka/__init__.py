"""Kafka plumbing shared by every component: the embedded broker, topics and offsets.

The public pieces are re-exported here; the Faust transport for the embedded broker
(:mod:`fluentsync.streams.kafka.faust_transport`) is imported on demand because it imports Faust.
"""

from fluentsync.streams.kafka.broker import BrokerError, EmbeddedBroker, free_port
from fluentsync.streams.kafka.offsets import exact_end_offsets
from fluentsync.streams.kafka.topics import TopicError, TopicSpec, describe_topics, ensure_topics

__all__ = [
    "BrokerError",
    "EmbeddedBroker",
    "TopicError",
    "TopicSpec",
    "describe_topics",
    "ensure_topics",
    "exact_end_offsets",
    "free_port",
]
