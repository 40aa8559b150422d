"""Every schema version ever committed stays readable: messages already on Kafka survive an upgrade."""

from __future__ import annotations

import io
import json
import subprocess
import tempfile
from pathlib import Path

import pytest
from fastavro import schemaless_writer
from fastavro.schema import load_schema, to_parsing_canonical_form

from fluentsync.schemas.codec import default_codec
from fluentsync.schemas.repository import SCHEMA_DIR, SchemaRepository, crc64_avro

REPO = Path(__file__).resolve().parents[2]


def _committed_versions() -> list[dict]:  # type: ignore[type-arg]
    """Every version of every schema in the git history of schemas/avro (inlined)."""
    try:
        commits = subprocess.run(["git", "log", "--format=%H", "--", "schemas/avro"], cwd=REPO, check=True,
                                 capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    versions = []
    for commit in commits:
        names = subprocess.run(["git", "ls-tree", "--name-only", commit, "schemas/avro/"], cwd=REPO, check=True,
                               capture_output=True, text=True).stdout.split()
        with tempfile.TemporaryDirectory() as folder:
            for name in (n for n in names if n.endswith(".avsc")):
                text = subprocess.run(["git", "show", f"{commit}:{name}"], cwd=REPO, check=True,
                                      capture_output=True, text=True).stdout
                Path(folder, Path(name).name).write_text(text)
            versions.extend(load_schema(str(p), _write_hint=False) for p in sorted(Path(folder).glob("*.avsc")))
    return versions


def test_every_committed_version_is_shipped() -> None:
    repository = SchemaRepository()
    missing = []
    for schema in _committed_versions():
        fingerprint = crc64_avro(to_parsing_canonical_form(schema).encode()).to_bytes(8, "little")
        try:
            repository.by_fingerprint(fingerprint)
        except LookupError:
            missing.append(f"{schema['namespace']}.{schema['name']}@{fingerprint.hex()}")
    assert not missing, f"add these to {SCHEMA_DIR / 'history'}: {missing}"


def test_a_batch_written_by_an_older_version_decodes_with_defaults() -> None:
    history = sorted((SCHEMA_DIR / "history").glob("fluentsync.records.RecordBatch@*"))
    versions = [json.loads(p.read_text()) for p in history]
    old = next(v for v in versions if "force" not in {f["name"] for f in v["fields"]})
    record = {"batch_id": "f#0", "workflow": "w", "source_uri": "file:///x", "record_keys": ['["a"]'],
              "record_indexes": [0], "published_at": 0}
    fingerprint = crc64_avro(to_parsing_canonical_form(old).encode()).to_bytes(8, "little")
    body = io.BytesIO()
    schemaless_writer(body, old, {**{f["name"]: f.get("default") for f in old["fields"]}, **record})
    decoded = default_codec().decode(b"\xc3\x01" + fingerprint + body.getvalue())
    assert decoded["batch_id"] == "f#0" and decoded["force"] is False and decoded["redrive"] is None
