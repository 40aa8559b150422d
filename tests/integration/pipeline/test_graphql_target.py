"""A workflow whose target is GraphQL mutations: records -> aliased createCustomer requests -> sandbox.

Real worker, embedded broker and sandbox. A duplicate ref is refused by Fluent for its alias only: that
record is dead-lettered (stage FLUENT), every other record is accepted, the file settles with exactly one
outcome per record, and the same file again sends nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fluentsync.streams.kafka.broker import EmbeddedBroker
from fluentsync.streams.kafka.names import WorkflowTopics
from fluentsync.streams.kafka.tail import TopicTail
from fluentsync.streams.kafka.topics import TopicSpec, ensure_topics
from tests.fixtures.processes import background_process
from tests.fixtures.sandbox_admin import Admin

pytestmark = pytest.mark.integration

MUTATION = {
    "version": "1.0.0", "mutation": "createCustomer", "sourceFormat": "json", "returnFields": ["id", "ref"],
    "arguments": {"input": {"ref": {"source": "ref", "required": True}, "email": {"source": "email"},
                            "firstName": {"source": "first"}, "lastName": {"source": "last"}}},
}


def customers(refs: list[str]) -> str:
    return "".join(json.dumps({"ref": ref, "email": f"{ref.lower()}@example.com", "first": "Ada", "last": ref})
                   + "\n" for ref in refs)


def settled(events: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    return [e for e in events if e["kind"] == "SETTLED" and e["file"]["path"] == path]


async def test_graphql_mutation_target_with_per_alias_errors(
    kafka_broker: EmbeddedBroker, unique_name: Callable[[str], str], tmp_path: Path, sandbox: Any, admin: Admin
) -> None:
    workflow = unique_name("gql").replace("-", "_")
    inbox = tmp_path / "inbox"
    (inbox / "incoming").mkdir(parents=True)
    (tmp_path / "create-customer.json").write_text(json.dumps(MUTATION))
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "kafka": {"bootstrap": kafka_broker.bootstrap, "partitions": 3, "app_id": unique_name("app")},
        "fluent": sandbox.fluent_config(),
        "workflows": {workflow: {
            "source": {"type": "local", "root": str(inbox), "prefix": "incoming/", "patterns": ["*.jsonl"],
                       "poll_interval": 0.3, "stable_listings": 1},
            "format": {"type": "jsonl"}, "key": ["ref"],
            "rules": {"required": ["email"]},
            "target": {"api": "graphql", "mutation": "create-customer.json",
                       "requests": {"max_aliases": 10, "linger": 0.2}},
        }},
    }))
    topics = WorkflowTopics.of(workflow)
    await ensure_topics(kafka_broker.bootstrap, [TopicSpec(name, 3) for name in topics.all()])
    prefix = workflow.upper().replace("_", "")[:12]
    refs = [f"{prefix}-{i:03d}" for i in range(25)]
    # Records 3 and 17 share a ref: whichever Fluent sees second is refused (duplicate ref, C0121E).
    refs[17] = refs[3]
    (inbox / "incoming" / "customers.jsonl").write_text(customers(refs))

    async with TopicTail(kafka_broker.bootstrap, topics.files) as files, \
            TopicTail(kafka_broker.bootstrap, topics.dlq) as dlq:
        with background_process([sys.executable, "-m", "fluentsync", "worker", "--config", str(config),
                                 "--data-dir", str(tmp_path / "data"), "-l", "info",
                                 "--web-port", "0"], tmp_path / "worker.log"):
            await files.until(lambda e: settled(e, "incoming/customers.jsonl"), timeout=90)
            done = settled(files.items, "incoming/customers.jsonl")[0]
            # The second record of ref 3 waits for the first (per-key order); the baseline moves only when
            # the whole record batch settles, so it is sent too and Fluent refuses it (duplicate ref).
            assert (done["record_count"], done["accepted_count"], done["rejected_count"],
                    done["unchanged_count"]) == (25, 24, 1, 0)
            letters = await dlq.until(lambda d: len(d) >= 1)
            assert [d["stage"] for d in letters] == ["FLUENT"]
            assert letters[0]["record_key"] == json.dumps([refs[3]], separators=(",", ":"))
            requests = [r for r in await admin.requests("graphql") if r["status"] == 200]
            assert 3 <= len(requests) <= 10  # aliased: 25 records in a few requests, not 25

            applied = [m for m in sandbox.state.mutations if m.get("mutation") == "createCustomer"]
            ok = sorted(m["input"]["ref"] for m in applied if m.get("ok"))
            assert ok == sorted(set(refs))  # every distinct customer created once

            (inbox / "incoming" / "customers-again.jsonl").write_text(customers(refs))
            await files.until(lambda e: settled(e, "incoming/customers-again.jsonl"), timeout=60)
            again = settled(files.items, "incoming/customers-again.jsonl")[0]
            # The refused duplicate had the same content as its accepted twin, whose baseline it now
            # matches: all 25 are unchanged and nothing is sent.
            assert (again["accepted_count"], again["rejected_count"], again["unchanged_count"]) == (0, 0, 25)
            assert len([r for r in await admin.requests("graphql") if r["status"] == 200]) == len(requests)
