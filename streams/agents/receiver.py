"""Running the webhook receiver: inside the worker (a Faust service) or alone (``fluentsync webhooks``).

Inside the worker the receiver publishes with the Faust app's producer and starts after table
recovery, so a worker that receives webhooks also processes them. Alone, it has its own aiokafka
producer (:class:`~fluentsync.connectors.webhooks.publishers.KafkaPublisher`) and no Faust app at
all: several receivers can sit behind a load balancer while workers scale separately.
"""

from __future__ import annotations

from typing import Any

import faust
from mode import Service

from fluentsync.connectors.parsers.options import JsonOptions, XmlOptions
from fluentsync.connectors.webhooks.receiver import WebhookReceiver, WebhookRoute
from fluentsync.connectors.webhooks.settings import WebhookSourceConfig
from fluentsync.streams.config import PipelineConfig
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.topics import TopicSpec

__all__ = ["build_routes", "faust_publish", "receiver_service", "webhook_topic_specs"]


def build_routes(config: PipelineConfig) -> list[WebhookRoute]:
    """One route per webhook workflow of the pipeline."""
    routes = []
    for name, workflow in config.workflows.items():
        if isinstance(workflow.source, WebhookSourceConfig):
            assert isinstance(workflow.format, JsonOptions | XmlOptions)  # validated with the pipeline
            topics = WorkflowTopics.of(name, config.kafka.topic_prefix)
            routes.append(WebhookRoute(name, workflow.source, workflow.format, topics.webhooks,
                                       config.kafka.partitions))
    return routes


def webhook_topic_specs(config: PipelineConfig) -> list[TopicSpec]:
    """``webhooks.<wf>`` of every webhook workflow, and the outbound Fluent events topics."""
    specs: dict[str, TopicSpec] = {}
    for name, workflow in config.workflows.items():
        if isinstance(workflow.source, WebhookSourceConfig):
            topic = WorkflowTopics.of(name, config.kafka.topic_prefix).webhooks
            specs[topic] = TopicSpec(topic, config.kafka.partitions)
            if workflow.source.deliver == "fluent_events":
                outbound = config.kafka.topic_prefix + workflow.source.outbound_topic
                specs[outbound] = TopicSpec(outbound, config.kafka.partitions)
    return list(specs.values())


def faust_publish(app: faust.App) -> Any:
    """A receiver ``Publish`` over the app's producer: returns once the broker acknowledged."""

    async def publish(topic: str, partition: int, key: bytes, value: bytes) -> None:
        future = await app.producer.send(topic, key, value, partition, None, None)
        await future

    return publish


def receiver_service(receiver: WebhookReceiver, host: str, port: int) -> type[Service]:
    """A mode service class (what ``app.service`` takes) that runs ``receiver`` with the worker."""

    class WebhookReceiverService(Service):
        async def on_start(self) -> None:
            await receiver.start(host, port)

        async def on_stop(self) -> None:
            await receiver.stop()

    return WebhookReceiverService
