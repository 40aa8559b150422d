"""Every aiokafka client fluentsync builds carries the process's security settings (``**client_options()``).

A producer, consumer or admin client constructed without them connects in PLAINTEXT without credentials:
fine on the embedded broker, a failure on Confluent Cloud or MSK - and no test against the embedded
broker would notice. This scans the source tree (the syntax tree, not text: line breaks and aliases do
not fool it) so a new construction site without the helper fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.fixtures.processes import REPO

CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient", "create_conn"}
SECURITY_KEYWORDS = {"security_protocol", "ssl_context", "sasl_mechanism", "sasl_plain_username",
                     "sasl_plain_password"}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _spreads_client_options(call: ast.Call) -> bool:
    return any(k.arg is None and isinstance(k.value, ast.Call) and _name(k.value.func) == "client_options"
               for k in call.keywords)


def construction_sites() -> list[tuple[str, int, ast.Call]]:
    sites = []
    for root in ("streams", "connectors", "schemas"):
        for path in sorted((REPO / root).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and _name(node.func) in CLIENTS:
                    sites.append((str(path.relative_to(REPO)), node.lineno, node))
    return sites


def test_every_aiokafka_client_construction_spreads_client_options() -> None:
    sites = construction_sites()
    assert len(sites) >= 25, f"the scan found only {len(sites)} construction sites: is it still looking?"
    missing = [f"{path}:{line}" for path, line, call in sites if not _spreads_client_options(call)]
    assert not missing, ("aiokafka clients built without **client_options() (from "
                         "fluentsync.streams.kafka.connection): " + ", ".join(missing))


def test_no_construction_sets_its_own_security_keywords() -> None:
    """One source of truth: a site setting ``security_protocol`` itself would also clash with the helper."""
    own = [f"{path}:{line}" for path, line, call in construction_sites()
           if any(k.arg in SECURITY_KEYWORDS for k in call.keywords)]
    assert not own, "security keywords set outside client_options(): " + ", ".join(own)


def test_the_guard_itself_tells_both_kinds_apart() -> None:
    good = ast.parse("AIOKafkaConsumer(bootstrap_servers=b, **client_options())").body[0]
    bad = ast.parse("aiokafka.AIOKafkaProducer(bootstrap_servers=b, **options)").body[0]
    assert isinstance(good, ast.Expr) and isinstance(good.value, ast.Call) and _spreads_client_options(good.value)
    assert isinstance(bad, ast.Expr) and isinstance(bad.value, ast.Call) and not _spreads_client_options(bad.value)


def test_the_faust_app_takes_the_same_settings() -> None:
    """Faust builds its own clients: create_app must merge faust_settings() (credentials, replication)."""
    source = (Path(REPO) / "streams" / "app.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _name(n.func) == "faust_settings"]
    assert calls, "streams/app.py create_app no longer applies faust_settings()"
    assert "topic_replication_factor\": 1" not in source
