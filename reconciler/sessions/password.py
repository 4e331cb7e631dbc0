"""Which password to send to one Redis, and where it came from (shown in the report, never the value).

In order: a password in the override URL, the one given on the command line (a file or an environment
variable), the Secret a server's `passwordRef` names (read from the cluster, when there is one), none.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.sessions.cluster import ClusterReader
from reconciler.sessions.connection import Endpoint
from reconciler.sessions.specs import ServerSpec


@dataclass(frozen=True)
class GivenPassword:
    value: str
    source: str  # "file /path" or "env NAME"


@dataclass(frozen=True)
class ChosenPassword:
    value: str | None
    source: str
    note: str | None = None  # why a passwordRef could not be used, for the finding


def choose_password(
    endpoint: Endpoint,
    servers: list[ServerSpec],
    given: GivenPassword | None,
    cluster: ClusterReader | None,
) -> ChosenPassword:
    """Raises ClusterProblem when the cluster cannot be asked for the Secret."""
    if endpoint.url_password is not None:
        return ChosenPassword(None, "url")  # the client takes it from the URL
    if given is not None:
        return ChosenPassword(given.value, given.source)
    refs = [(s.namespace, s.storage.password_ref) for s in servers if s.storage.password_ref is not None]
    if not refs:
        return ChosenPassword(None, "none")
    namespace, ref = refs[0]
    assert ref is not None
    where = f"Secret {namespace}/{ref.name} key {ref.key}"
    if cluster is None:
        return ChosenPassword(
            None, "none", f"passwordRef names {where}, but no cluster is available to read it"
        )
    value = cluster.secret_value(namespace, ref.name, ref.key)
    if value is None:
        return ChosenPassword(None, "none", f"passwordRef names {where}, which does not exist")
    return ChosenPassword(value, f"secret {namespace}/{ref.name}")
