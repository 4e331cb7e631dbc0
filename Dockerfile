# mcp-gitops reconcile daemon. Build with scripts/build-image (podman; see docs/image.md), or
# `docker build -t mcp-gitops .` where the official Python image can be pulled (podman needs
# `--format docker` to keep the HEALTHCHECK).
#
# BASE is any image with Python 3.11, pip and apt-get: the official slim image by default;
# scripts/build-image passes a local Debian base where that cannot be pulled.
#
# Two stages: the first builds the project's own wheel, the second installs exactly requirements.lock
# (pinned, hash-checked) and that wheel, with a non-root user. The runtime needs the `git` command (the
# daemon mirrors the config repository with it) and an SSH client for ssh:// remotes.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY reconciler ./reconciler
COPY policies ./policies
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${BASE}
# apt's package lists and its cache (/var/cache/apt/*.bin, 77 MB) go in the same layer they appear in.
# A repository mounted from the host belongs to another uid; git would refuse it ("dubious ownership"),
# so the image trusts every path: it runs one user, who reads only what is mounted for it.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git openssh-client ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
    && git config --system --add safe.directory '*' \
    && useradd --uid 10001 --user-group --create-home --home-dir /home/mcp-gitops mcp-gitops \
    && install --directory --owner 10001 --group 10001 --mode 0700 /var/lib/mcp-gitops
COPY requirements.lock /tmp/requirements.lock
COPY --from=build /wheels /tmp/wheels
# pip byte-compiles what it installs: the image runs with PYTHONDONTWRITEBYTECODE (its user cannot write
# there anyway), so without the .pyc files every command would compile pydantic, psycopg, kubernetes and
# the project from source each time it starts (1.3-2.2 s of CPU for `validate` on these machines).
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.lock \
    && pip install --no-cache-dir --no-deps /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels /tmp/requirements.lock

# PYTHONMALLOC=malloc: after a large cycle the daemon hands its memory back (malloc_trim); with pymalloc's
# arenas a 10,000-entry cycle leaves ~100 MB more mapped for good (bench/bench_daemon.py measures both).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONMALLOC=malloc \
    MCP_GITOPS_STATE_DIR=/var/lib/mcp-gitops
USER 10001:10001
WORKDIR /home/mcp-gitops
# 8080: probes, /metrics, /status (inside the cluster); 8081: the GitHub webhook alone.
EXPOSE 8080 8081
# The slim image has no curl: ask /healthz with the Python that is there anyway. (An OCI-format image
# drops HEALTHCHECK: build with --format docker.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["mcp-gitops", "run"]
CMD ["--help"]
