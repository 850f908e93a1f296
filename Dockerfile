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

# The base of both stages: any Debian-like image with Python 3.11+ as `python3` and its venv
# module (python:3.11-slim, or a debootstrap'ed Debian bookworm with python3-venv, which is
# what tests/deploy/test_image.py builds on). Both stages must use the same one: the venv is
# copied from the first into the second and names its interpreter by path.
ARG BASE_IMAGE=python:3.11-slim

# --- builder: a venv with outagewatch and its dependencies --------------------------------
FROM ${BASE_IMAGE} AS builder
# Where pip finds packages and which CAs it trusts, when the build host needs something else
# than PyPI and certifi's bundle (a mirror, a TLS-inspecting proxy). Build arguments only:
# none of it reaches the runtime stage.
ARG PIP_INDEX_URL
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The same path as in the runtime stage: a venv's scripts name their interpreter absolutely.
# `python3`, not `python`: Debian's own Python has only the former.
RUN python3 -m venv /opt/outagewatch
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# The version comes from git, and the context has no .git: pass it in
# (--build-arg OUTAGEWATCH_VERSION="$(make -s version)"); without it the image says 0+unknown.
ARG OUTAGEWATCH_VERSION=0+unknown
RUN SETUPTOOLS_SCM_PRETEND_VERSION_FOR_OUTAGEWATCH="$OUTAGEWATCH_VERSION" \
    /opt/outagewatch/bin/pip install . \
    && /opt/outagewatch/bin/outagewatch --version

# --- runtime --------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
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
# OUTAGEWATCH_HEALTHZ_URL if api.listen uses another port. "python" is the venv's (first on
# PATH): Debian's own Python has no command of that name.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['OUTAGEWATCH_HEALTHZ_URL'], timeout=4)"]

# SIGTERM (docker stop) stops the daemon cleanly; SIGHUP (docker kill -s HUP) reloads the
# config, except api.listen, vantage and database, which need a new container.
STOPSIGNAL SIGTERM
ENTRYPOINT ["outagewatch"]
CMD ["run", "-c", "/etc/outagewatch/outagewatch.yaml"]
