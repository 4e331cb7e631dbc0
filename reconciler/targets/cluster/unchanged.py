"""Telling, without a dry run, that applying an object would change nothing.

A dry run per object is what makes a no-op reconcile cost seconds on a few hundred objects, and a no-op
is the common case (most commits touch a few files). An object is unchanged when both hold:

- its applied-digest annotation equals the digest of what we would apply now: the same fields are
  declared, so server-side apply would own the same set and remove nothing;
- every declared value equals the live one: nobody changed or took over a field since (drift).

Anything else (a digest from an older manifest, a value the server normalises such as a quantity, a
list whose items the server defaults) falls back to the dry run, which is always right.
"""

from __future__ import annotations

from typing import Any

from reconciler.targets.cluster.marks import DIGEST_ANNOTATION, REVISION_ANNOTATION, is_marked


def known_unchanged(body: dict[str, Any], live: dict[str, Any] | None) -> bool:
    if live is None or not is_marked(live):
        return False
    wanted = (body.get("metadata") or {}).get("annotations") or {}
    current = (live.get("metadata") or {}).get("annotations") or {}
    if not wanted.get(DIGEST_ANNOTATION) or wanted.get(DIGEST_ANNOTATION) != current.get(DIGEST_ANNOTATION):
        return False
    return _declared_values_match(body, live, ())


def _declared_values_match(declared: Any, live: Any, path: tuple[str, ...]) -> bool:
    if isinstance(declared, dict):
        if not isinstance(live, dict):
            return False
        for key, value in declared.items():
            if path == ("metadata", "annotations") and key == REVISION_ANNOTATION:
                continue  # a new revision alone is not a change (marks.REVISION_ANNOTATION)
            if key not in live or not _declared_values_match(value, live[key], (*path, key)):
                return False
        return True
    # Lists are compared whole, and bool is never equal to an int here (True == 1 in Python).
    return type(declared) is type(live) and declared == live
