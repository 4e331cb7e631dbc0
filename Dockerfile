# mcp-gitops reconcile daemon: `docker build -t mcp-gitops .`
#
# Two stages: the first builds wheels for the project and every dependency (so the runtime image needs
# no compiler), the second installs them into a plain python:3.11-slim with a non-root user. The runtime
# also needs the `git` command (the daemon mirrors the config repository with it) and an SSH client for
# ssh:// remotes.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
COPY policies ./policies
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --create-home --home-dir /home/mcp-gitops mcp-gitops \
    && install --directory --owner 10001 --group 10001 --mode 0700 /var/lib/mcp-gitops
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-compile /wheels/*.whl && rm -rf /wheels

# PYTHONMALLOC=malloc: after a large cycle the daemon hands its memory back (malloc_trim); with pymalloc's
# arenas a 10,000-entry cycle leaves ~100 MB more mapped for good (bench/bench_daemon.py measures both).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONMALLOC=malloc \
    MCP_GITOPS_STATE_DIR=/var/lib/mcp-gitops
USER 10001:10001
WORKDIR /home/mcp-gitops
EXPOSE 8080
# The slim image has no curl: ask /healthz with the Python that is there anyway.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["mcp-gitops", "run"]
CMD ["--help"]
