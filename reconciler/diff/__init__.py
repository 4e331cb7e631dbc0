"""`mcp-gitops diff`: what merging a revision would change in the registry and the cluster, computed
from two Git revisions alone (no database, no cluster), and the findings the change introduces or
fixes.

Both revisions are validated as `validate --rev` would (the base only where it differs, see
`findings.py`); the targets' desired states are built with the targets' own builders and compared.

The package imports nothing itself: the registry writer uses `diff.fields` alone, without
loading the whole comparison (`diff.compute`).
"""
