"""Where the cluster target takes its credentials from, in order (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.targets.cluster import credentials
from reconciler.targets.ownership import normalise_remote


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(credentials, "SERVICE_ACCOUNT_TOKEN", tmp_path / "token")
    return home


def test_nothing_configured(clean_env: Path) -> None:
    assert credentials.find_cluster() is None


def test_explicit_flags_win(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/elsewhere")
    choice = credentials.find_cluster("/my/kubeconfig", "prod")
    assert choice == credentials.ClusterChoice("kubeconfig", "/my/kubeconfig", "prod")
    # a context alone uses the default kubeconfig lookup
    assert credentials.find_cluster(None, "prod") == credentials.ClusterChoice("kubeconfig", None, "prod")


def test_kubeconfig_env_before_in_cluster(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("t")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert credentials.find_cluster() == credentials.ClusterChoice("in-cluster")
    monkeypatch.setenv("KUBECONFIG", "/from/env")
    assert credentials.find_cluster() == credentials.ClusterChoice("kubeconfig", None, None)


def test_home_kubeconfig_last(clean_env: Path) -> None:
    (clean_env / ".kube").mkdir()
    (clean_env / ".kube" / "config").write_text("apiVersion: v1\n")
    choice = credentials.find_cluster()
    assert choice is not None and choice.kubeconfig == str(clean_env / ".kube" / "config")


def test_ownership_identity_from_a_remote_is_normalised() -> None:
    expected = "github.com/org/repo"
    assert normalise_remote("https://user:token@GitHub.com/org/repo.git") == expected
    assert normalise_remote("git@github.com:org/repo.git") == expected
    assert normalise_remote("ssh://git@github.com/org/repo") == expected
    assert normalise_remote("https://github.com/org/repo/") == expected
