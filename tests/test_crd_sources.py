"""Where CRDs come from: URLs (against a local HTTP server that serves the upstream files and records the
requests), the download cache, files in the repository (`crds:` in the settings), the command line, and
the live cluster (against the test API server)."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.crds.sources import CrdOptions, CrdSourceError, load_catalog
from reconciler.source import FolderSource
from tests.builders import write_repo
from tests.harness.kube import KubeCluster

V1 = "toolhive.stacklok.dev/v1beta1"


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (the timeout tests) breaks the pipe of a reply still being written; the
        # default prints a traceback to stderr from this thread, into whatever a later test captures.
        pass


class _Server:
    def __init__(self, crds: Path) -> None:
        self.crds = crds
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.path == "/slow":
                    time.sleep(2)
                if self.path.startswith("/v0.44.0/"):
                    body = b"---\n".join(p.read_bytes() for p in sorted(server.crds.glob("*.yaml")))
                elif self.path == "/configmap.yaml":
                    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
                else:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def crd_server(toolhive_crds: Path) -> Iterator[_Server]:
    server = _Server(toolhive_crds)
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def _load(location: str, timeout: float = 5.0, version: str = "v0.44.0") -> object:
    return load_catalog(
        CrdOptions(locations=(location,), timeout=timeout), [], version, FolderSource(Path("."))
    )


def test_a_url_template_is_downloaded_once_then_read_from_the_cache(crd_server: _Server) -> None:
    catalog = _load(crd_server.url + "/{version}/crds.yaml")
    assert catalog is not None and len(catalog.versions) == 14  # type: ignore[attr-defined]
    assert crd_server.requests == ["/v0.44.0/crds.yaml"]
    crd_server.httpd.shutdown()  # offline from now on
    again = _load(crd_server.url + "/{version}/crds.yaml")
    assert again is not None and len(again.versions) == 14  # type: ignore[attr-defined]
    assert crd_server.requests == ["/v0.44.0/crds.yaml"]
    with pytest.raises(CrdSourceError, match="download failed"):
        _load(crd_server.url + "/{version}/crds.yaml", version="v9.9.9")  # another version: not cached


def test_download_failures_are_clear_errors(crd_server: _Server) -> None:
    cache = Path(os.environ["MCP_GITOPS_CACHE_DIR"]) / "crds"
    cached_before = set(cache.iterdir()) if cache.exists() else set()
    with pytest.raises(CrdSourceError, match=r"HTTP 404"):
        _load(crd_server.url + "/missing.yaml")
    with pytest.raises(CrdSourceError, match=r"download failed: .*timed out"):
        _load(crd_server.url + "/slow", timeout=0.5)
    with pytest.raises(CrdSourceError, match=r"line 1: not a CustomResourceDefinition"):
        _load(crd_server.url + "/configmap.yaml")
    with pytest.raises(CrdSourceError, match="HTTPS only"):
        _load("http://example.com/crds.yaml")
    # Nothing that failed was cached.
    assert (set(cache.iterdir()) if cache.exists() else set()) == cached_before


def test_settings_name_crds_in_the_repository_and_the_command_line_overrides_them(
    tmp_path: Path, toolhive_crds: Path
) -> None:
    root = write_repo(
        tmp_path / "repo",
        manifests={"s.yaml": f"apiVersion: {V1}\nkind: MCPServer\nmetadata: {{name: a}}\nspec: {{}}\n"},
    )
    (root / "crds").mkdir()
    (root / "crds" / "servers.yaml").write_bytes(
        (toolhive_crds / "toolhive.stacklok.dev_mcpservers.yaml").read_bytes()
    )
    settings = root / "mcp-gitops.yaml"
    settings.write_text("crds: [crds]\ntoolhive: {operatorVersion: v0.44.0}\n")
    runner = CliRunner()
    env = {"MCP_GITOPS_CRDS": ""}
    result = runner.invoke(cli, ["validate", str(root), "--format", "json"], env=env)
    assert '"crd-schema"' in result.output and "spec.image" in result.output  # image is required
    result = runner.invoke(cli, ["validate", str(root), "--crds", str(tmp_path / "nowhere")], env=env)
    assert result.exit_code == 2
    assert "nowhere: no such file or folder" in result.output


def test_a_plain_http_url_from_the_repository_is_refused_before_any_request(
    crd_server: _Server, tmp_path: Path
) -> None:
    # The operator's --crds may name a loopback HTTP server (as the tests above do); the repository's
    # settings may not: a pull request must not reach services listening on the machine running the check.
    root = write_repo(tmp_path / "repo")
    (root / "mcp-gitops.yaml").write_text(f"crds: ['{crd_server.url}/{{version}}/crds.yaml']\n")
    served_before = len(crd_server.requests)
    result = CliRunner().invoke(cli, ["validate", str(root)], env={"MCP_GITOPS_CRDS": ""})
    assert result.exit_code == 2
    assert "HTTPS only" in result.output
    assert len(crd_server.requests) == served_before


@pytest.mark.kube
def test_crds_from_the_cluster(kube: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    groups = kube.dynamic.resources.get(api_version=V1, kind="MCPGroup")
    group = {"apiVersion": V1, "kind": "MCPGroup", "metadata": {"name": "live", "namespace": kube_namespace}}
    groups.server_side_apply(body=group, field_manager="mcp-gitops-tests")
    text = (
        f"apiVersion: {V1}\nkind: MCPServerz\nmetadata: {{name: a}}\nspec: {{}}\n---\n"
        f"apiVersion: {V1}\nkind: MCPServer\nmetadata: {{name: b}}\n"
        "spec: {image: x, groupRef: {name: live}, toolConfigRef: {name: gone}}\n"
    )
    root = write_repo(tmp_path / "repo", manifests={"s.yaml": text})
    (root / "mcp-gitops.yaml").write_text(f"namespace: {kube_namespace}\n")
    runner = CliRunner()
    args = ["validate", str(root), "--crds-from-cluster", "--format", "json"]
    result = runner.invoke(cli, args, env={"MCP_GITOPS_CRDS": "", "KUBECONFIG": str(kube.kubeconfig)})
    findings = json.loads(result.output)["findings"]
    assert [(f["rule"], f["line"]) for f in findings if f["path"] == "manifests/s.yaml"] == [
        ("unknown-kind", 2),
        ("ref-unknown", 9),
    ]
    unknown, missing = (f for f in findings if f["path"] == "manifests/s.yaml")
    assert "the cluster" in unknown["message"] and "MCPServer?" in unknown["message"]
    # groupRef `live` exists in the cluster: no finding; toolConfigRef `gone` exists nowhere: an error.
    assert (
        missing["severity"] == "error"
        and "neither in this repository nor in the cluster" in missing["message"]
    )


def test_a_crd_whose_schema_is_not_structural_is_refused_with_its_place(tmp_path: Path) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "properties": {"spec": {"properties": []}}}
                    },
                }
            ],
        },
    }
    path = tmp_path / "widget.json"
    path.write_text(json.dumps(crd))
    with pytest.raises(
        CrdSourceError, match=r"openAPIV3Schema\.properties\.spec\.properties is not a mapping"
    ):
        _load(str(path))


def test_what_a_crd_file_parses_to_is_kept_by_its_digest(tmp_path: Path, toolhive_crds: Path) -> None:
    from reconciler.crds import sources

    parsed = Path(os.environ["MCP_GITOPS_CACHE_DIR"]) / "crds" / "parsed"
    raw = (toolhive_crds / "toolhive.stacklok.dev_mcpservers.yaml").read_bytes()
    before = set(parsed.glob("*.json")) if parsed.exists() else set()
    cold = sources._crds_in("a.yaml", raw + b"\n# a copy\n", [])  # bytes no other test loads
    (kept,) = set(parsed.glob("*.json")) - before
    assert sources._crds_in("a.yaml", raw + b"\n# a copy\n", []) == cold  # read back from the cache
    kept.write_text('[{"half": ')  # a torn file (a crash mid-write) is parsed again, and replaced
    assert sources._crds_in("a.yaml", raw + b"\n# a copy\n", []) == cold
    assert json.loads(kept.read_text()) == cold
    # Other bytes, another key: a changed CRD is never answered from the cache.
    other = raw.replace(b"maxLength: 253", b"maxLength: 254", 1) + b"\n# a copy\n"
    assert sources._crds_in("b.yaml", other, []) != cold
    assert len(set(parsed.glob("*.json")) - before) == 2


def test_the_next_load_with_the_same_cluster_crds_keeps_the_manifest_checks(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon lists the cluster's CRDs every cycle; when their specs are what the last cycle
    checked against, unchanged manifests are not parsed and checked again, and the report is a cold
    run's."""
    from reconciler.pipeline import validate

    bad = f"apiVersion: {V1}\nkind: MCPServer\nmetadata: {{name: b}}\nspec: {{image: x, replicas: -1}}\n"
    root = write_repo(
        tmp_path / "repo", manifests={"bad.yaml": bad, "other.yaml": bad.replace(": b}", ": c}")}
    )
    (root / "mcp-gitops.yaml").write_text(f"namespace: {kube_namespace}\n")
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    options = CrdOptions(from_cluster=True)
    first = validate(FolderSource(root), crds=options)
    (root / "manifests" / "other.yaml").write_text(bad.replace(": b}", ": d}"))
    again = validate(FolderSource(root), crds=options, previous=first)
    cold = validate(FolderSource(root), crds=options)
    assert first.repo.catalog is not None and first.repo.catalog.digest is not None
    assert again.repo.catalog is not None and again.repo.catalog.digest == first.repo.catalog.digest
    kept = {d.path for d in again.repo.manifests if any(d is e for e in first.repo.manifests)}
    assert kept == {"manifests/bad.yaml"}  # the unchanged file, as loaded and checked before
    assert sorted(f.to_json().items() for f in again.report.findings) == sorted(
        f.to_json().items() for f in cold.report.findings
    )
    assert any(f.rule == "crd-schema" and f.path == "manifests/bad.yaml" for f in again.report.findings)


def test_the_next_load_with_the_same_crd_files_keeps_the_manifest_checks(
    tmp_path: Path, toolhive_crds: Path
) -> None:
    """The daemon's CRDs may come from files: the same bytes, the same digest, the same checks; one
    changed byte, every manifest checked again."""
    import shutil

    from reconciler.pipeline import validate

    crds = tmp_path / "crds"
    shutil.copytree(toolhive_crds, crds)
    bad = f"apiVersion: {V1}\nkind: MCPServer\nmetadata: {{name: b}}\nspec: {{image: x, replicas: -1}}\n"
    root = write_repo(tmp_path / "repo", manifests={"bad.yaml": bad})
    options = CrdOptions(locations=(str(crds),))
    first = validate(FolderSource(root), crds=options)
    again = validate(FolderSource(root), crds=options, previous=first)
    assert again.repo.manifests[0] is first.repo.manifests[0]  # loaded and checked once
    servers = crds / "toolhive.stacklok.dev_mcpservers.yaml"
    servers.write_bytes(servers.read_bytes() + b"\n# edited\n")
    third = validate(FolderSource(root), crds=options, previous=again)
    assert third.repo.manifests[0] is not again.repo.manifests[0]  # other CRD bytes: checked again
    assert [f.to_json() for f in third.report.findings] == [f.to_json() for f in first.report.findings]


def test_the_next_load_without_crds_keeps_the_manifest_checks(
    tmp_path: Path, toolhive_crds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No CRDs then and now: nothing the checks depend on changed, so an unchanged manifest is not
    loaded again; CRDs given later, and it is checked against them."""
    from reconciler.pipeline import validate

    monkeypatch.delenv("MCP_GITOPS_CRDS", raising=False)
    bad = f"apiVersion: {V1}\nkind: MCPServer\nmetadata: {{name: b}}\nspec: {{image: x, replicas: -1}}\n"
    root = write_repo(tmp_path / "repo", manifests={"bad.yaml": bad})
    first = validate(FolderSource(root), crds=CrdOptions())
    again = validate(FolderSource(root), crds=CrdOptions(), previous=first)
    assert again.repo.manifests[0] is first.repo.manifests[0]
    assert [f.to_json() for f in again.report.findings] == [f.to_json() for f in first.report.findings]
    with_crds = validate(FolderSource(root), crds=CrdOptions(locations=(str(toolhive_crds),)), previous=again)
    assert with_crds.repo.manifests[0] is not again.repo.manifests[0]
    assert any("replicas" in f.message for f in with_crds.report.findings)


def test_a_crd_file_this_process_cannot_read_is_a_clear_error(
    tmp_path: Path, toolhive_crds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root reads any file whatever its mode: the refusal the kernel gives another user is raised here.
    def refused(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refused)
    with pytest.raises(CrdSourceError, match=r"mcpservers\.yaml: cannot read: Permission denied"):
        _load(str(toolhive_crds / "toolhive.stacklok.dev_mcpservers.yaml"))
