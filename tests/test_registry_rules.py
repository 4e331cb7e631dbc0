"""The registry rules of issue 12, each with a failing and a passing case, at every release where its
verdict differs (ToolHive Registry Server v1.2.0 to v1.5.1; reference/upstream-checks.md Tables 1, 2)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from reconciler.findings import Finding
from reconciler.policy.engine import Inputs, evaluate
from reconciler.policy.loader import load_policies
from reconciler.repository import load_repository
from reconciler.source import FolderSource
from tests.builders import CONFIG, entry, write_repo

WRITER = {"role": "writer", "org": "acme", "team": ["platform"]}


def run(
    root: Path, version: str, token: dict[str, Any] | None = None, base: Path | None = None
) -> list[Finding]:
    source = FolderSource(root)
    repo = load_repository(source, server_version=version)
    base_repo = load_repository(FolderSource(base), server_version=version) if base is not None else None
    found = repo.findings + evaluate(
        repo, load_policies(source, repo.settings.policies), Inputs(token=token, base=base_repo)
    )
    return [f for f in found if f.rule != "coverage-not-judged"]


def of(rule: str, found: list[Finding]) -> list[tuple[str, int, str]]:
    return [(f.path, f.line, f.severity.value) for f in found if f.rule == rule]


def config(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(CONFIG)
    out.update(changes)
    return out


def repo(tmp_path: Path, name: str, cfg: dict[str, Any] | None = None, **entries: Any) -> Path:
    return write_repo(tmp_path / name, config=cfg, entries={f"{k}.json": v for k, v in entries.items()})


def line_of(root: Path, text: str, file: str = "registry.yaml") -> int:
    """1-based line of the first line of `file` holding `text`."""
    lines = (root / file).read_text().splitlines()
    return next(i + 1 for i, line in enumerate(lines) if text in line)


def at(root: Path, text: str) -> tuple[str, int, str]:
    """An error finding in entries/a.json at the first line holding `text`."""
    return ("entries/a.json", line_of(root, text, "entries/a.json"), "error")


# ---- Table 1: config load ------------------------------------------------------------------------


def test_auth_block_is_required_at_the_pipeline(tmp_path: Path) -> None:
    cfg = config()
    del cfg["auth"]
    found = run(repo(tmp_path, "r", cfg), "v1.5.1")
    assert [(f.rule, f.message) for f in found] == [("schema", "auth: required field is missing")]


@pytest.mark.parametrize("version", ["v1.2.0", "v1.5.1"])
def test_insecure_issuer_is_a_warning_naming_the_override(tmp_path: Path, version: str) -> None:
    def with_issuer(issuer: str) -> dict[str, Any]:
        cfg = config()
        cfg["auth"]["oauth"]["providers"][0]["issuerUrl"] = issuer
        return cfg

    bad = repo(tmp_path, "bad", with_issuer("http://sso.acme.example.com/realms/x"))
    found = run(bad, version)
    assert of("registry-insecure-issuer", found) == [("registry.yaml", line_of(bad, "issuerUrl"), "warning")]
    assert "THV_REGISTRY_INSECURE_URL" in next(
        f.message for f in found if f.rule == "registry-insecure-issuer"
    )
    for good in ("https://sso.acme.example.com", "http://localhost:8080/realms/x", "http://127.0.0.1"):
        assert not of("registry-insecure-issuer", run(repo(tmp_path, "good", with_issuer(good)), version))


@pytest.mark.parametrize("version", ["v1.2.0", "v1.5.1"])
def test_config_claim_values_point_at_the_key(tmp_path: Path, version: str) -> None:
    cfg = config()
    cfg["sources"][1]["claims"] = {"org": 1}
    cfg["registries"][0]["claims"] = {"org": "acme", "tier": {"a": "b"}}
    bad = repo(tmp_path, "bad", cfg)
    assert of("registry-claims-values", run(bad, version)) == [
        ("registry.yaml", line_of(bad, '"org": 1'), "error"),
        ("registry.yaml", line_of(bad, '"tier"'), "error"),
    ]
    assert not of("registry-claims-values", run(repo(tmp_path, "good"), version))


def test_file_source_with_data_is_refused_at_its_line(tmp_path: Path) -> None:
    cfg = config()
    cfg["sources"][1] = {"name": "upstream", "file": {"data": "{}"}, "syncPolicy": {"interval": "1h"}}
    found = run(repo(tmp_path, "r", cfg), "v1.5.1")
    assert [(f.rule, "file.data is not read from a config file" in f.message) for f in found] == [
        ("schema", True)
    ]


@pytest.mark.parametrize(("sampling", "fails"), [(0, True), (2, True), (1, False), (0.05, False)])
def test_telemetry_sampling(tmp_path: Path, sampling: float, fails: bool) -> None:
    telemetry = {"enabled": True, "tracing": {"enabled": True, "sampling": sampling}}
    found = of("registry-telemetry-sampling", run(repo(tmp_path, "r", config(telemetry=telemetry)), "v1.2.0"))
    assert bool(found) is fails
    off = {"enabled": True, "tracing": {"enabled": False, "sampling": 0}}
    assert not of("registry-telemetry-sampling", run(repo(tmp_path, "off", config(telemetry=off)), "v1.2.0"))


def test_key_case_and_empty_authz_are_read_as_viper_reads_them(tmp_path: Path) -> None:
    cfg = config()
    cfg["sources"][1]["claims"] = {"Org": "acme"}
    cfg["auth"]["authz"]["roles"]["superAdmin"] = [{"isAdmin": "yes"}]
    bad = repo(tmp_path, "bad", cfg)
    assert sorted(of("registry-key-case", run(bad, "v1.5.1"))) == [
        ("registry.yaml", line_of(bad, '"Org"'), "warning"),
        ("registry.yaml", line_of(bad, '"isAdmin"'), "warning"),
    ]
    empty = config()
    empty["auth"]["authz"] = {}
    found = run(repo(tmp_path, "empty", empty, a=entry(claims=None)), "v1.5.1")
    assert of("registry-authz-empty", found) == [
        ("registry.yaml", line_of(tmp_path / "empty", '"authz"'), "warning")
    ]
    # no authorization at all: from v1.2.1 claims are not required then; v1.2.0 keys on the auth mode
    assert not of("claims-required", found)
    assert of("claims-required", run(tmp_path / "empty", "v1.2.0"))
    assert not {"registry-key-case", "registry-authz-empty"} & {
        f.rule for f in run(repo(tmp_path, "ok"), "v1.5.1")
    }


# ---- Table 1: publish ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1.2.0", "v1.5.1"])
def test_token_must_hold_the_manage_entries_role(tmp_path: Path, version: str) -> None:
    root = repo(tmp_path, "r", a=entry())
    viewer = {**WRITER, "role": "viewer"}
    assert of("publish-token-role", run(root, version, viewer)) == [at(root, '"name": "io.github')]
    assert not of("publish-token-role", run(root, version, WRITER))
    assert not of("publish-token-role", run(root, version, {"role": "super-admin"}))
    no_authz = config()
    del no_authz["auth"]["authz"]
    assert not of("publish-token-role", run(repo(tmp_path, "open", no_authz, a=entry()), version, viewer))


def test_entries_need_a_managed_source(tmp_path: Path) -> None:
    cfg = config()
    cfg["sources"] = cfg["sources"][1:]
    cfg["registries"][0]["sources"] = ["upstream"]
    bad = repo(tmp_path, "bad", cfg, a=entry())
    assert of("entry-managed-source", run(bad, "v1.5.1")) == [
        ("registry.yaml", line_of(bad, '"sources"'), "error")
    ]
    # no entries, nothing to publish: a config without a managed source is fine
    assert not of("entry-managed-source", run(repo(tmp_path, "none", cfg), "v1.5.1"))
    assert not of("entry-managed-source", run(repo(tmp_path, "good", a=entry()), "v1.5.1"))


def test_publisher_metadata_size(tmp_path: Path) -> None:
    cfg = config()
    cfg["database"]["maxMetaSize"] = 100
    big = entry()
    big["server"]["_meta"] = {"io.modelcontextprotocol.registry/publisher-provided": {"blob": "x" * 200}}
    found = run(repo(tmp_path, "bad", cfg, a=big), "v1.2.0")
    assert [f.rule for f in found] == ["entry-meta-size"]
    assert "more than database.maxMetaSize (100)" in found[0].message
    cfg["database"]["maxMetaSize"] = 1000
    assert not run(repo(tmp_path, "good", cfg, a=big), "v1.2.0")


def test_publisher_metadata_size_is_measured_as_go_encodes_it(tmp_path: Path) -> None:
    """The registry server measures `json.Marshal`'s bytes, which write `<`, `>` and `&` as six-byte
    escapes: 20 ampersands are 31 bytes as Python encodes the metadata, 131 as Go does."""
    from reconciler.schemas.server_rows import publisher_meta_size

    cfg = config()
    cfg["database"]["maxMetaSize"] = 100
    amp = entry()
    amp["server"]["_meta"] = {"io.modelcontextprotocol.registry/publisher-provided": {"blob": "&" * 20}}
    assert publisher_meta_size(amp["server"]) == 131
    found = run(repo(tmp_path, "bad", cfg, a=amp), "v1.2.0")
    assert [f.rule for f in found] == ["entry-meta-size"]
    assert "131 bytes" in found[0].message


def test_whether_metadata_fits_is_answered_as_its_measured_size_would(tmp_path: Path) -> None:
    """`publisher_meta_fits` skips the encoding when six times the marshal size is within the limit:
    over random metadata (escape-heavy strings, nesting, numbers) and limits around every size, its
    answer is the measured size's."""
    import random

    from reconciler.schemas.server_rows import PUBLISHER_PROVIDED, publisher_meta_fits, publisher_meta_size

    rng = random.Random(17)
    alphabet = ["a", "<", ">", "&", "\u2028", "\u2029", '"', "\\", "\n", "\x01", "é", "😀"]

    def value(depth: int) -> object:
        kind = rng.randrange(8 if depth < 4 else 5)
        if kind == 0:
            return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        if kind == 1:
            return rng.choice([0, -1, 7, 2**31, -(2**63), 2**63 - 1])
        if kind == 2:
            return rng.choice([0.5, -1e300, 1e-7, 3.0])
        if kind == 3:
            return rng.choice([True, False])
        if kind == 4:
            return None
        if kind == 5:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        keys = ["".join(rng.choice(alphabet) for _ in range(3)) for _ in range(rng.randrange(4))]
        return {key: value(depth + 1) for key in keys}

    checked = 0
    for _ in range(300):
        meta = {"k": value(0)}
        server = {"_meta": {PUBLISHER_PROVIDED: meta}}
        size = publisher_meta_size(server)
        for limit in {1, size - 1, size, size + 1, 6 * size, 100 * size + 50}:
            if limit > 0:
                assert publisher_meta_fits(server, limit) == (size <= limit), (meta, limit)
                checked += 1
    assert checked > 1000


def test_duplicate_packages_remotes_and_icons(tmp_path: Path) -> None:
    dup = entry()
    server = dup["server"]
    server["packages"].append(copy.deepcopy(server["packages"][0]))
    server["remotes"] = [{"type": "sse", "url": "https://a.example.com/sse"}] * 2
    # no theme is light: the second icon repeats the first once the server's default is applied
    server["icons"] = [
        {"src": "https://a.example.com/i.png"},
        {"src": "https://a.example.com/i.png", "theme": "light"},
    ]
    found = [f for f in run(repo(tmp_path, "bad", a=dup), "v1.5.1") if f.rule == "entry-duplicate-rows"]
    assert sorted(f.message.split(" of ")[0] for f in found) == [
        "repeats the icon (src, mimeType, theme; theme defaults to light)",
        "repeats the package (registryType, identifier, transport)",
        "repeats the remote (type, url)",
    ]
    server["icons"][1]["theme"] = "dark"
    server["packages"].pop()
    server["remotes"].pop()
    assert not run(repo(tmp_path, "good", a=dup), "v1.5.1")


# ---- Table 2: v1.2.1 .. v1.5.1 --------------------------------------------------------------------


def test_claims_gate_follows_auth_mode_then_authorization(tmp_path: Path) -> None:
    auth_only = config()
    del auth_only["auth"]["authz"]
    root = repo(tmp_path, "auth-only", auth_only, a=entry(claims=None))
    assert of("claims-required", run(root, "v1.2.0")) == [("entries/a.json", 1, "error")]
    assert not of("claims-required", run(root, "v1.2.1"))
    anonymous = config()
    anonymous["auth"] = {"mode": "anonymous", "authz": CONFIG["auth"]["authz"]}
    root = repo(tmp_path, "anon-authz", anonymous, a=entry(claims=None))
    for cfg_root in (root,):
        assert not of("claims-required", run(cfg_root, "v1.2.0"))
        assert of("claims-required", run(cfg_root, "v1.5.1")) == [("entries/a.json", 1, "error")]


def test_unlabelled_registries_and_sources_from_v1_4_1(tmp_path: Path) -> None:
    cfg = config()
    del cfg["registries"][0]["claims"]
    root = repo(tmp_path, "r", cfg)
    assert not of("registry-unlabelled-under-authz", run(root, "v1.4.0"))
    assert of("registry-unlabelled-under-authz", run(root, "v1.4.1")) == [
        ("registry.yaml", line_of(root, '"name": "default"'), "warning")
    ]
    assert not of("registry-unlabelled-under-authz", run(repo(tmp_path, "good"), "v1.5.1"))


def test_old_claims_are_matched_by_visibility_from_v1_5_0(tmp_path: Path) -> None:
    # the entry leaves a source whose claims the token sees but does not cover
    def cfg(claims: dict[str, Any]) -> dict[str, Any]:
        out = config()
        out["sources"][0]["claims"] = claims
        return out

    old = {"org": "acme", "team": ["platform", "forecasting"]}
    new = {"org": "acme", "team": ["platform"]}
    base = repo(tmp_path, "base", cfg(old), a=entry(claims=old))
    head = repo(tmp_path, "head", cfg(new), a=entry(claims=new))
    token = {"role": "writer", "org": "acme", "team": ["platform"]}
    assert of("claims-change-not-covered", run(head, "v1.4.12", token, base)) == [at(head, '"claims"')]
    assert not of("claims-change-not-covered", run(head, "v1.5.0", token, base))
    stranger = {"role": "writer", "org": "acme", "team": ["sales"]}
    assert of("claims-change-not-covered", run(head, "v1.5.0", stranger, base))


def test_publishing_is_gated_on_the_managed_source_from_v1_5_0(tmp_path: Path) -> None:
    root = repo(tmp_path, "r", a=entry())
    outsider = {"role": "writer", "org": "acme", "team": "sales"}
    assert not of("publish-source-gate", run(root, "v1.4.12", outsider))
    assert of("publish-source-gate", run(root, "v1.5.0", outsider)) == [at(root, '"name": "io.github')]
    assert not of("publish-source-gate", run(root, "v1.5.0", WRITER))


@pytest.mark.parametrize(
    ("timeout", "fails"), [("30s", False), ("5m", False), ("5m1s", True), ("0s", True), ("soon", True)]
)
def test_api_timeout_from_v1_5_0(tmp_path: Path, timeout: str, fails: bool) -> None:
    cfg = config()
    cfg["sources"].append(
        {
            "name": "api",
            "api": {"endpoint": "https://r.example.com", "timeout": timeout},
            "syncPolicy": {"interval": "1h"},
            "claims": {"org": "acme"},
        }
    )
    root = repo(tmp_path, "r", cfg)
    at = line_of(root, '"timeout"')
    assert of("registry-api-timeout", run(root, "v1.5.1")) == (
        [("registry.yaml", at, "error")] if fails else []
    )
    # ignored by earlier releases: a warning, whatever the value
    assert of("registry-api-timeout", run(root, "v1.4.12")) == [("registry.yaml", at, "warning")]


def test_scopes_supported_ignored_from_v1_4_4(tmp_path: Path) -> None:
    cfg = config()
    cfg["auth"]["oauth"]["scopesSupported"] = ["read"]
    root = repo(tmp_path, "r", cfg)
    assert not of("registry-scopes-supported", run(root, "v1.4.3"))
    assert of("registry-scopes-supported", run(root, "v1.4.4")) == [
        ("registry.yaml", line_of(root, '"scopesSupported"'), "warning")
    ]


def test_database_host_and_name_characters_from_v1_4_6(tmp_path: Path) -> None:
    cfg = config()
    cfg["database"]["host"] = "db.example.com/x"
    cfg["database"]["database"] = "reg istry"
    root = repo(tmp_path, "r", cfg)
    assert not of("registry-database-names", run(root, "v1.4.5"))
    assert of("registry-database-names", run(root, "v1.4.6")) == [
        ("registry.yaml", line_of(root, '"host"'), "error"),
        ("registry.yaml", line_of(root, '"reg istry"'), "error"),
    ]
    assert not of("registry-database-names", run(repo(tmp_path, "good"), "v1.4.6"))


# ---- claims that survive a restart -----------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1.2.0", "v1.5.1"])
def test_claims_reset_on_restart(tmp_path: Path, version: str) -> None:
    other = repo(tmp_path, "bad", a=entry(claims={"org": "acme", "team": ["data"]}))
    found = run(other, version)
    assert of("claims-reset-on-restart", found) == [at(other, '"claims"')]
    # no claims on the source: the server writes NULL at start-up
    bare = config()
    del bare["sources"][0]["claims"]
    assert of("claims-reset-on-restart", run(repo(tmp_path, "bare", bare, a=entry()), version))
    # equal as the server compares them: one-element array = string, keys lower-cased by viper
    upper = config()
    upper["sources"][0]["claims"] = {"ORG": "acme", "team": "platform"}
    assert not of("claims-reset-on-restart", run(repo(tmp_path, "good", upper, a=entry()), version))


def test_empty_claims_and_no_claims_differ_between_versions(tmp_path: Path) -> None:
    # impl_mcp.go@v1.2.0:635-643 stores {} as "{}", no claims as NULL; checkClaimConsistency: 409
    anonymous = config(auth={"mode": "anonymous"})
    anonymous["sources"][0].pop("claims")
    mixed = repo(tmp_path, "mixed", anonymous, a=entry(claims={}), b=entry(version="1.1.0", claims=None))
    assert {f.path for f in run(mixed, "v1.5.1") if f.rule == "claims-inconsistent"} == {
        "entries/a.json",
        "entries/b.json",
    }
    same = repo(tmp_path, "same", anonymous, a=entry(claims=None), b=entry(version="1.1.0", claims=None))
    assert not [f for f in run(same, "v1.5.1") if f.rule == "claims-inconsistent"]


def test_pruned_versions_must_be_deletable_by_the_token(tmp_path: Path) -> None:
    # DELETE /v1/entries/...: manageEntries, and the token covers (v1.5.0: sees) the existing claims
    old = {"org": "acme", "team": ["platform", "forecasting"]}
    cfg = config()
    cfg["sources"][0]["claims"] = old
    prune = {"prune": {"registry": True}}
    base = write_repo(tmp_path / "base", config=cfg, settings=prune, entries={"a.json": entry(claims=old)})
    head = write_repo(tmp_path / "head", config=cfg, settings=prune, entries={})
    token = {"role": "writer", "org": "acme", "team": ["platform"]}
    found = of("entry-removal-not-covered", run(head, "v1.4.12", token, base))
    assert found == [("registry.yaml", 1, "error")]
    assert not of("entry-removal-not-covered", run(head, "v1.5.0", token, base))
    viewer = {**token, "role": "viewer"}
    assert of("entry-removal-not-covered", run(head, "v1.5.0", viewer, base))
    # without prune nothing is deleted
    kept = write_repo(tmp_path / "kept", config=cfg, entries={})
    assert not of("entry-removal-not-covered", run(kept, "v1.4.12", token, base))


def test_pruning_an_entry_without_claims_is_for_super_admins_from_v1_4_1(tmp_path: Path) -> None:
    cfg = config()
    del cfg["sources"][0]["claims"]
    prune = {"prune": {"registry": True}}
    base = write_repo(tmp_path / "base", config=cfg, settings=prune, entries={"a.json": entry(claims={})})
    head = write_repo(tmp_path / "head", config=cfg, settings=prune, entries={})
    assert not of("entry-removal-not-covered", run(head, "v1.4.0", WRITER, base))
    assert of("entry-removal-not-covered", run(head, "v1.4.1", WRITER, base)) == [
        ("registry.yaml", 1, "error")
    ]
    assert not of("entry-removal-not-covered", run(head, "v1.4.1", {"role": "super-admin"}, base))
