"""Seeing what a worker does: the operations web endpoints, metrics, status and structured logs."""

from fluentsync.streams.observability.web import OpsConfig, OpsWeb, ops_service

__all__ = ["OpsConfig", "OpsWeb", "ops_service"]
