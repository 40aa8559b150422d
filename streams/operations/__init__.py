"""Operations tooling: replay a workflow's records, inspect and redrive its dead letters.

- :mod:`.positions`: where a replay starts and ends (``earliest``, offsets, timestamps) per partition;
- :mod:`.group`: reading and moving a consumer group's committed offsets safely;
- :mod:`.replay`: the replay plan (dry run) and its two ways of being carried out;
- :mod:`.dlq`: reading, filtering and redriving dead letters;
- :mod:`.lineage`: the attempt and history a redriven record's new dead letter carries.

Modules import Kafka clients lazily where they can, so the CLI's ``--help`` stays fast.
"""

__all__: list[str] = []
