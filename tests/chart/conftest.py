"""Shared fixtures of the chart, kustomize and Argo CD tests (pytest, run by hack/test.sh).

The cluster is HTX_E2E_KUBECONFIG when set (hack/test.sh sets it), else the local control plane in
.e2e/cluster that the Rust tests share, brought up with hack/local-cluster.sh under the same lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "hack"))

import helm  # noqa: E402  (hack/helm.py)

CHART = ROOT / "charts" / "htx-operator"


def run(*args: str | Path, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def documents(stream: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(stream) if d]


def render(values: dict | None = None, name: str = "htx-operator", namespace: str = "htx-system", crds: bool = False) -> list[dict]:
    return documents(helm.render(CHART, values or {}, name, namespace, crds))


def find(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


@pytest.fixture(scope="session")
def kubeconfig() -> Path:
    configured = os.environ.get("HTX_E2E_KUBECONFIG")
    if configured:
        path = Path(configured)
        assert path.is_file(), f"HTX_E2E_KUBECONFIG={configured} is not a file"
        return path
    cluster = ROOT / ".e2e" / "cluster"
    cluster.mkdir(parents=True, exist_ok=True)
    with open(cluster.with_name("cluster.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["bash", ROOT / "hack" / "local-cluster.sh", "up", cluster], check=True, stdout=subprocess.DEVNULL)
    return cluster / "kubeconfig"


class Kubectl:
    def __init__(self, kubeconfig: Path, binary: str = "kubectl"):
        self.kubeconfig = kubeconfig
        self.binary = binary

    def __call__(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        return run(self.binary, "--kubeconfig", self.kubeconfig, *args, check=check, input=input)

    def get(self, *args: str) -> dict:
        return json.loads(self("get", "-o", "json", *args).stdout)


@pytest.fixture(scope="session")
def kubectl(kubeconfig: Path) -> Kubectl:
    return Kubectl(kubeconfig)


@pytest.fixture(scope="session")
def kubectl_1_20() -> str:
    """A kubectl 1.20 (kustomize v2.0.3), whatever kubectl is on PATH."""
    return run("bash", ROOT / "hack" / "kubectl-1.20.sh").stdout.strip()


@pytest.fixture
def namespace(kubectl: Kubectl):
    """A fresh namespace, deleted afterwards (labelled like the Rust tests' namespaces)."""
    created = []

    def make() -> str:
        name = f"htx-e2e-{secrets.token_hex(4)}"
        kubectl("create", "namespace", name)
        kubectl("label", "namespace", name, "htx-e2e=true")
        created.append(name)
        return name

    yield make
    for name in created:
        kubectl("delete", "namespace", name, "--wait=false", check=False)
