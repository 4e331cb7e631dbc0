"""The reconcile daemon behind `mcp-gitops run`: keeps a registry database and a cluster equal to a Git
branch, continuously.

Modules, in the order a cycle uses them:

- `config`: the daemon's settings, as the `run` command parsed them.
- `gitsync`: where revisions come from: a remote (or local bare) repository mirrored into the state
  directory, or a local folder.
- `watch`: local change notification (watchfiles) for a folder or a local bare repository.
- `cycle`: one reconcile cycle, fetch -> validate -> plan -> apply registry -> apply cluster -> session
  health, as a list of small steps.
- `steps`: the target-facing steps (registry, cluster, sessions) behind one narrow interface.
- `backoff`: capped exponential backoff with jitter, and which failures are worth retrying.
- `status` / `metrics`: what the daemon reports (`/status` JSON, Prometheus metrics).
- `webhook` / `endpoints`: the HTTP side: health, readiness, metrics, status, GitHub push webhooks.
- `leader`: one reconciler at a time (a Kubernetes Lease, or a PostgreSQL advisory lock).
- `logs`: JSON log lines, with secrets scrubbed.
- `runner`: the loop tying these together, and shutdown.
"""
