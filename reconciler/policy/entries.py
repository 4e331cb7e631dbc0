"""An index of the repository's entries by server name, for the cross-document rules.

Policies ask it narrow questions (`entryFiles`, `claimsConflicts`) whose answers are short lists of
paths: returning every version's record to CEL for every entry made those two rules cost more than all
the others together on a large repository.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from reconciler.documents import Document
from reconciler.policy.claims import canonical


def _claims_key(claims: Any) -> tuple[bool, frozenset[Any]]:
    # The server stores `claims: {}` as "{}" but no claims as NULL, and its consistency check between
    # versions counts NULL against anything else as a mismatch (409); otherwise claimsEqual.
    return (claims is not None, canonical(claims if isinstance(claims, dict) else None))


class EntryIndex:
    def __init__(self, entries: Iterable[Document]) -> None:
        self.records: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.files: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.claim_sets: dict[str, dict[Any, list[str]]] = defaultdict(lambda: defaultdict(list))
        for doc in entries:
            server = doc.data["server"]
            name, version, claims = server["name"], str(server.get("version")), doc.data.get("claims") or {}
            self.records[name].append({"path": doc.path, "version": version, "claims": claims})
            self.files[(name, version)].append(doc.path)
            self.claim_sets[name][_claims_key(doc.data.get("claims"))].append(doc.path)

    def count(self) -> int:
        """Entry documents (versions) in the repository."""
        return sum(len(records) for records in self.records.values())

    def entries_named(self, name: Any) -> list[dict[str, Any]]:
        return self.records.get(name, []) if isinstance(name, str) else []

    def entry_files(self, name: Any, version: Any) -> list[str]:
        return self.files.get((name, str(version)), []) if isinstance(name, str) else []

    def claims_conflicts(self, name: Any, claims: Any) -> list[str]:
        """Files of other versions of `name` whose claims differ from `claims`."""
        groups = self.claim_sets.get(name) if isinstance(name, str) else None
        mine = _claims_key(claims)
        if not groups or (len(groups) == 1 and mine in groups):
            return []
        return sorted(path for key, paths in groups.items() if key != mine for path in paths)
