"""How mcp-gitops marks the objects it applies, and the names it uses on the cluster.

The marks serve three readers: people (`kubectl get -l app.kubernetes.io/managed-by=mcp-gitops`), prune
(which objects are ours to delete once they leave the repository) and the plan (where an object came
from). Every object also names the repository that owns it: a label with a hash of the ownership
identity (label values are short and restricted; listing selects on it) and an annotation with the
identity itself (for people, and to tell a hash collision from a match). Ownership of fields is
separate: server-side apply records it under the field manager below.
"""

from __future__ import annotations

import hashlib

FIELD_MANAGER = "mcp-gitops"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "mcp-gitops"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"

# sha256 (first 16 hex digits) of the owning repository's identity, and the identity in full.
OWNER_LABEL = "mcp-gitops.io/owner"
OWNER_ANNOTATION = "mcp-gitops.io/owner-id"

# The repository file an object was declared in.
SOURCE_PATH_ANNOTATION = "mcp-gitops.io/source-path"
# The repository revision that last changed the object. A new commit that leaves an object alone does
# not rewrite it: this annotation alone never makes a change (see diff.IGNORED_ANNOTATIONS).
REVISION_ANNOTATION = "mcp-gitops.io/source-revision"
# sha256 of what we last applied (marks included, the revision excluded). With the live values of the
# declared fields, it lets an unchanged object skip its dry run (see unchanged.py).
DIGEST_ANNOTATION = "mcp-gitops.io/applied-digest"
# Set to "false" on a live object to keep it when prune would delete it.
PRUNE_ANNOTATION = "mcp-gitops.io/prune"
PRUNE_OPT_OUT_VALUES = frozenset({"false", "disabled"})

TOOLHIVE_GROUP = "toolhive.stacklok.dev"
TOOLHIVE_VERSION = "v1beta1"
TOOLHIVE_KINDS = ("MCPGroup", "MCPServer", "VirtualMCPServer")


def owner_hash(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def owned_selector(identity: str) -> str:
    """The label selector of the objects one repository owns."""
    return f"{MANAGED_SELECTOR},{OWNER_LABEL}={owner_hash(identity)}"


def owner_of(obj: dict) -> str | None:
    """The identity of the repository that owns a live object; None for an object without our marks,
    or marked before ownership was recorded (such an object is adopted by the repository declaring it)."""
    if not is_marked(obj):
        return None
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    owner = annotations.get(OWNER_ANNOTATION)
    return str(owner) if owner else None


def mark(body: dict, source_path: str, revision: str | None, owner: str) -> None:
    """Add the ownership marks to an object about to be applied (in place); the digest goes last, over
    everything else."""
    metadata = body.setdefault("metadata", {})
    labels = metadata.get("labels") or {}
    metadata["labels"] = {**labels, MANAGED_BY_LABEL: MANAGED_BY, OWNER_LABEL: owner_hash(owner)}
    annotations = dict(metadata.get("annotations") or {})
    annotations[SOURCE_PATH_ANNOTATION] = source_path
    annotations[OWNER_ANNOTATION] = owner
    metadata["annotations"] = annotations
    annotations[DIGEST_ANNOTATION] = digest(body)
    if revision:
        annotations[REVISION_ANNOTATION] = revision


def digest(body: dict) -> str:
    """Of an object as we apply it, without the revision (a new commit alone changes nothing) and
    without the digest itself."""
    import json

    annotations = (body.get("metadata") or {}).get("annotations") or {}
    kept = {k: v for k, v in annotations.items() if k not in (REVISION_ANNOTATION, DIGEST_ANNOTATION)}
    canonical = {**body, "metadata": {**body.get("metadata", {}), "annotations": kept}}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def is_marked(obj: dict) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY


def prune_opted_out(obj: dict) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(PRUNE_ANNOTATION, "")).strip().lower() in PRUNE_OPT_OUT_VALUES
