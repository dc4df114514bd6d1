"""The chart and the kustomize tree against the real API server (the local 1.20 control plane).

Nothing runs as a pod there (no kubelet): these tests check that the API server accepts and
stores everything. tests/install_e2e.rs runs the operator with the chart's ServiceAccount.

The CRDs go in as the chart's README says for clusters before 1.25: first without their
validation rules (`htx-operator crds --without-rules`, as the Rust tests install them), then the
chart with --skip-crds. tests/admission.rs tests the CRDs as they ship on a current API server.
"""

from __future__ import annotations

import json
import secrets

import pytest

import helm_python
from conftest import ROOT, helm, run


@pytest.fixture(scope="session")
def before_1_25(kubectl) -> bool:
    """The cluster is older than Kubernetes 1.25 (it does not know CEL validation rules)."""
    minor = json.loads(kubectl("version", "-o", "json").stdout)["serverVersion"]["minor"]
    return int(minor.rstrip("+")) < 25


@pytest.fixture(scope="session")
def crds_without_rules(kubectl) -> None:
    """The CRDs without their validation rules: Helm 4 applies CRDs server-side, and 1.20 refuses
    the rules ("field not declared in schema")."""
    crds = run("cargo", "run", "--quiet", "--bin", "htx-operator", "--", "crds", "--without-rules", cwd=ROOT).stdout
    kubectl("apply", "--server-side", "--field-manager=e2e", "--force-conflicts", "-f", "-", input=crds)


@pytest.fixture
def install(kubeconfig, crds_without_rules):
    def install(name: str, namespace: str, values: dict) -> dict:
        return helm.install_chart(kubeconfig, name, namespace, values, skip_crds=True)

    return install


def uninstall(kubeconfig, name: str, namespace: str) -> None:
    with helm_python.Config(kubeconfig_path=str(kubeconfig), namespace=namespace) as config:
        config.uninstall(name, ignore_not_found=True)


@pytest.fixture
def releases(kubeconfig):
    """Releases a test installed, uninstalled afterwards even when it failed (their ClusterRoles
    outlive the namespace otherwise)."""
    installed: list[tuple[str, str]] = []
    yield installed
    for name, namespace in installed:
        uninstall(kubeconfig, name, namespace)


def test_helm_install_with_default_values(install, kubeconfig, kubectl, namespace, releases):
    ns = namespace()
    release = f"htx-{secrets.token_hex(3)}"
    releases.append((release, ns))
    installed = install(release, ns, {"portal": {"tokenSecret": {"name": "htx-portal-token", "token": "htx_install_test"}}})
    assert installed["status"] == "deployed", installed["status"]
    fullname = f"{release}-htx-operator"
    for kind, name in [("deployment", fullname), ("serviceaccount", fullname), ("service", f"{fullname}-metrics"),
                       ("role", f"{fullname}-self"), ("rolebinding", f"{fullname}-self"), ("secret", "htx-portal-token")]:
        assert kubectl.get("-n", ns, kind, name)["metadata"]["name"] == name
    role = kubectl.get("clusterrole", fullname)
    assert any("secrets" in r["resources"] for r in role["rules"])
    binding = kubectl.get("clusterrolebinding", fullname)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": fullname, "namespace": ns}]
    uninstall(kubeconfig, release, ns)
    assert kubectl("get", "clusterrole", fullname, check=False).returncode != 0, "uninstall removes the ClusterRole"


def test_helm_install_namespaced_with_replicas(install, kubeconfig, kubectl, namespace, releases):
    home, watched = namespace(), namespace()
    release = f"htx-{secrets.token_hex(3)}"
    releases.append((release, home))
    installed = install(release, home, {"watchNamespaces": [watched], "replicas": 2})
    assert installed["status"] == "deployed", installed["status"]
    fullname = f"{release}-htx-operator"
    assert kubectl.get("-n", watched, "role", fullname)["rules"]
    own = kubectl.get("-n", home, "role", f"{fullname}-self")
    assert {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["htx-portal-token"], "verbs": ["get"]} in own["rules"]
    # policy/v1beta1 on 1.20, policy/v1 from 1.21: the chart asks the cluster.
    assert kubectl.get("-n", home, "poddisruptionbudget", fullname)["spec"]["maxUnavailable"] == 1
    assert kubectl.get("-n", home, "deployment", fullname)["spec"]["replicas"] == 2
    assert kubectl("get", "clusterrole", fullname, check=False).returncode != 0, "no ClusterRole in namespaced mode"
    uninstall(kubeconfig, release, home)


def test_helm_install_rejects_bad_values_before_touching_the_cluster(install, kubectl, namespace):
    ns = namespace()
    with pytest.raises(helm_python.HelmError) as error:
        install("htx-bad", ns, {"replicas": 2, "leaderElection": {"enabled": False, "leaseDuration": "15s"}})
    assert "leaderElection" in str(error.value)
    assert kubectl("get", "-n", ns, "deployment", "htx-bad-htx-operator", check=False).returncode != 0


@pytest.fixture(scope="module")
def htx_system(kubectl):
    """The namespace config/default installs into: a server-side dry run stores nothing, so it
    must exist. Created (and deleted afterwards) only when the cluster lacks it."""
    created = kubectl("get", "namespace", "htx-system", check=False).returncode != 0
    if created:
        kubectl("create", "namespace", "htx-system")
    yield
    if created:
        kubectl("delete", "namespace", "htx-system", "--wait=false")


@pytest.mark.parametrize("which", ["kubectl", "kubectl-1.20"])
def test_kustomize_default_applies_with_server_dry_run(which, kubeconfig, kubectl, htx_system, before_1_25, request):
    binary = request.getfixturevalue("kubectl_1_20") if which == "kubectl-1.20" else "kubectl"
    # Before 1.25 kubectl validates the CRDs against a schema without x-kubernetes-validations and
    # refuses them; without that check the API server drops the rules (the chart's README).
    validate = ["--validate=false"] if before_1_25 else []
    result = run(binary, "--kubeconfig", kubeconfig, "apply", "-k", ROOT / "config" / "default", "--dry-run=server", *validate)
    for line in ["deployment.apps/htx-operator", "clusterrole.rbac.authorization.k8s.io/htx-operator",
                 "serviceaccount/htx-operator", "service/htx-operator-metrics", "role.rbac.authorization.k8s.io/htx-operator-self",
                 "customresourcedefinition.apiextensions.k8s.io/databases.htx.vinacis.com"]:
        assert line in result.stdout, result.stdout
    assert "(server dry run)" in result.stdout
    assert kubectl("get", "-n", "htx-system", "deployment", "htx-operator", check=False).returncode != 0, "a dry run creates nothing"
