# One image for every fluentsync role: `worker`, `webhooks`, `sandbox`, and the CLI tools
# (docker compose run --rm worker reports -c /etc/fluentsync/pipeline.yaml).
# The pipeline file and its mappings are mounted at /etc/fluentsync (see docker-compose.yml), so a
# pipeline change needs a restart, not a rebuild.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what `pip install .` reads: the project metadata and the four package folders
# (pyproject.toml's package-dir); tests, benchmarks and docs stay out of the image.
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY fluentsync ./fluentsync
COPY streams ./streams
COPY connectors ./connectors
COPY schemas ./schemas
RUN pip install . && rm -rf /src

# Non-root. Table state (--data-dir) and the SFTP known_hosts live under /var/lib/fluentsync; named
# volumes mounted there start with this ownership.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/fluentsync fluentsync \
    && mkdir -p /var/lib/fluentsync/data /var/lib/fluentsync/ssh /etc/fluentsync \
    && chown -R fluentsync:fluentsync /var/lib/fluentsync
USER fluentsync
WORKDIR /var/lib/fluentsync

# 6066: a worker's ops endpoints (/health, /metrics, /status); 8080: the webhook receiver
EXPOSE 6066 8080
ENTRYPOINT ["fluentsync"]
CMD ["--help"]
