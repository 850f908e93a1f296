# syntax=docker/dockerfile:1
# outagewatch as a container:  docker build -t outagewatch .
#
#   docker run -d --name outagewatch \
#     -v /srv/outagewatch/etc:/etc/outagewatch:ro -v outagewatch-data:/var/lib/outagewatch \
#     --env-file /srv/outagewatch/secrets.env -p 127.0.0.1:8080:8080 outagewatch
#
# The API (and /metrics, /healthz) listens on the config's api.listen. Inside a container it
# must be "0.0.0.0:8080", or nothing outside the container reaches it; and the daemon refuses
# a non-loopback address while no API token exists. Create one first, on the same database:
#
#   docker run --rm -v /srv/outagewatch/etc:/etc/outagewatch:ro \
#     -v outagewatch-data:/var/lib/outagewatch outagewatch \
#     token create --name admin --role admin -c /etc/outagewatch/outagewatch.yaml
#
# Secrets (the relay and probe passwords the config names with password_env, a PostgreSQL
# password as PGPASSWORD) are given at run time (--env-file, compose); none is in any layer.

# --- builder: a venv with outagewatch and its dependencies --------------------------------
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The same path as in the runtime stage: a venv's scripts name their interpreter absolutely.
RUN python -m venv /opt/outagewatch
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN /opt/outagewatch/bin/pip install . \
    && /opt/outagewatch/bin/outagewatch --version

# --- runtime --------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime
LABEL org.opencontainers.image.title="outagewatch" \
      org.opencontainers.image.description="Outage monitor and incident communication for hosted e-mail platforms" \
      org.opencontainers.image.licenses="GPL-3.0-or-later"

# A fixed uid/gid, so that bind-mounted config and data directories can be owned by it.
RUN groupadd --system --gid 10001 outagewatch \
    && useradd --system --uid 10001 --gid outagewatch --no-create-home \
       --home-dir /var/lib/outagewatch --shell /usr/sbin/nologin outagewatch \
    && mkdir -p /etc/outagewatch /var/lib/outagewatch \
    && chown outagewatch:outagewatch /var/lib/outagewatch

COPY --from=builder /opt/outagewatch /opt/outagewatch

ENV PATH=/opt/outagewatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OUTAGEWATCH_CONFIG=/etc/outagewatch/outagewatch.yaml \
    OUTAGEWATCH_HEALTHZ_URL=http://127.0.0.1:8080/healthz

USER outagewatch:outagewatch
WORKDIR /var/lib/outagewatch

# The config (read-only is enough) and the SQLite database (not needed with PostgreSQL).
VOLUME ["/etc/outagewatch", "/var/lib/outagewatch"]
EXPOSE 8080

# python:slim has no curl. /healthz answers while the event loop runs; change
# OUTAGEWATCH_HEALTHZ_URL if api.listen uses another port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['OUTAGEWATCH_HEALTHZ_URL'], timeout=4)"]

# SIGTERM (docker stop) stops the daemon cleanly; there is no reload on SIGHUP: restart the
# container to apply a new config.
STOPSIGNAL SIGTERM
ENTRYPOINT ["outagewatch"]
CMD ["run", "-c", "/etc/outagewatch/outagewatch.yaml"]
