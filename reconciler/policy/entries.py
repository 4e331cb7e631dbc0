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
    """Entries grouped by server name in one pass; what a rule asks about a name is worked out the first
    time it is asked (in whichever worker process evaluates that name's documents)."""

    def __init__(self, entries: Iterable[Document]) -> None:
        self._by_name: dict[str, list[Document]] = defaultdict(list)
        for doc in entries:
            self._by_name[doc.data["server"]["name"]].append(doc)
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._claim_sets: dict[str, dict[Any, list[str]]] = {}

    def count(self) -> int:
        """Entry documents (versions) in the repository."""
        return sum(len(docs) for docs in self._by_name.values())

    def entries_named(self, name: Any) -> list[dict[str, Any]]:
        if not isinstance(name, str) or name not in self._by_name:
            return []
        records = self._records.get(name)
        if records is None:
            records = self._records[name] = [
                {
                    "path": doc.path,
                    "version": str(doc.data["server"].get("version")),
                    "claims": doc.data.get("claims") or {},
                }
                for doc in self._by_name[name]
            ]
        return records

    def entry_files(self, name: Any, version: Any) -> list[str]:
        version = str(version)
        return [record["path"] for record in self.entries_named(name) if record["version"] == version]

    def claims_conflicts(self, name: Any, claims: Any) -> list[str]:
        """Files of other versions of `name` whose claims differ from `claims`."""
        if not isinstance(name, str) or name not in self._by_name:
            return []
        groups = self._claim_sets.get(name)
        if groups is None:
            groups = self._claim_sets[name] = defaultdict(list)
            for doc in self._by_name[name]:
                groups[_claims_key(doc.data.get("claims"))].append(doc.path)
        mine = _claims_key(claims)
        if len(groups) == 1 and mine in groups:
            return []
        return sorted(path for key, paths in groups.items() if key != mine for path in paths)
