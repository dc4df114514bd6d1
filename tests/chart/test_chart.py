"""The Helm chart offline: lint, renders with default and other values, the schema, the CRDs, and
config/ (kustomize) installing the same thing."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import pytest
import yaml

import helm_python
from conftest import CHART, ROOT, documents, find, helm, render, run

sys.path.insert(0, str(ROOT / "hack"))
import importlib  # noqa: E402

update_config = importlib.import_module("update-config")

MANAGED_KINDS = ["databases", "functions", "proxies", "backups", "backupschedules", "providerconfigs"]
WAYS_KINDS = ["waysdatabases", "wayssnapshots", "waysrestores"]
PAAS_KINDS = ["paasprojects", "paasdatabases", "paasredises", "paaswebservices", "paasbuckets"]

OTHER_VALUES = {
    "image": {"repository": "registry.example/htx", "digest": "sha256:" + "a" * 64, "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "pull"}],
    "portal": {"url": "https://portal.example", "ratePerMinute": 60, "tokenSecret": {"name": "team-token", "token": "htx_quickstart"}},
    "resync": "30m",
    "poll": "2s",
    "concurrency": 4,
    "watchNamespaces": ["team-a", "team-b"],
    "replicas": 3,
    "leaderElection": {"enabled": True, "leaseDuration": "30s"},
    "logLevel": "debug",
    "logFormat": "text",
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["ops"]}]}]}}},
    "priorityClassName": "system-cluster-critical",
    "podAnnotations": {"team": "platform"},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "networkPolicy": {"enabled": True, "metricsFrom": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]},
}


def deployment(objects: list[dict]) -> dict:
    (found,) = find(objects, "Deployment")
    return found


def container(objects: list[dict]) -> dict:
    (found,) = deployment(objects)["spec"]["template"]["spec"]["containers"]
    return found


def test_lint_passes_with_default_and_other_values():
    for values in ({}, OTHER_VALUES, {"watchNamespaces": ["only"], "leaderElection": {"enabled": False, "leaseDuration": "15s"}}):
        # Helm's default Kubernetes version, and the oldest the chart supports.
        for kube_version in (None, "v1.20.2"):
            report = helm_python.lint(CHART, values, strict=True, kube_version=kube_version)
            problems = [m for m in report.get("messages") or [] if m["severity"] >= 2]
            assert not report.get("errors") and not problems, (kube_version, report)


def test_default_render_is_a_restricted_single_replica_with_a_cluster_role():
    objects = render()
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service"]), kinds
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    c = container(objects)
    assert c["image"] == f"ghcr.io/vinacis/htx-operator:{app_version}"
    assert c["imagePullPolicy"] == "IfNotPresent"
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert c["args"] == [
        "run",
        "--portal-url=https://portal.vinacis.com",
        "--token-secret=htx-system/htx-portal-token",
        "--rate-per-minute=100",
        "--resync=10m",
        "--deep-resync=1h",
        "--poll=5s",
        "--concurrency=16",
        "--metrics-addr=0.0.0.0:8080",
        "--leader-election",
        "--lease-name=htx-operator-leader",
        "--lease-namespace=htx-system",
        "--lease-duration=15s",
    ]
    assert {p["httpGet"]["path"] for p in (c["livenessProbe"], c["readinessProbe"])} == {"/healthz", "/readyz"}
    assert not find(objects, "Secret"), "no token Secret unless a token is given"
    assert not find(objects, "PodDisruptionBudget"), "one replica: no PodDisruptionBudget"
    (service,) = find(objects, "Service")
    assert service["spec"]["ports"][0]["port"] == 8080


def test_other_values_render_namespaced_roles_and_the_optional_objects():
    objects = render(OTHER_VALUES, name="ops", namespace="operators")
    assert not find(objects, "ClusterRole") and not find(objects, "ClusterRoleBinding"), "no cluster-wide permission"
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in find(objects, "Role")}
    assert roles == {("team-a", "ops-htx-operator"), ("team-b", "ops-htx-operator"), ("operators", "ops-htx-operator-self")}
    bindings = find(objects, "RoleBinding")
    assert all(b["subjects"] == [{"kind": "ServiceAccount", "name": "ops-htx-operator", "namespace": "operators"}] for b in bindings)
    (own,) = [r for r in find(objects, "Role") if r["metadata"]["namespace"] == "operators"]
    assert {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["team-token"], "verbs": ["get"]} in own["rules"]

    (secret,) = find(objects, "Secret", "team-token")
    assert base64.b64decode(secret["data"]["token"]) == b"htx_quickstart"
    d = deployment(objects)
    assert d["spec"]["replicas"] == 3
    pod = d["spec"]["template"]
    assert "checksum/token-secret" in pod["metadata"]["annotations"] and pod["metadata"]["annotations"]["team"] == "platform"
    assert pod["spec"]["nodeSelector"] == OTHER_VALUES["nodeSelector"]
    assert pod["spec"]["tolerations"] == OTHER_VALUES["tolerations"]
    assert pod["spec"]["affinity"] == OTHER_VALUES["affinity"]
    assert pod["spec"]["priorityClassName"] == "system-cluster-critical"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "pull"}]
    c = container(objects)
    assert c["image"] == "registry.example/htx@sha256:" + "a" * 64
    for arg in ["--portal-url=https://portal.example", "--token-secret=operators/team-token", "--rate-per-minute=60",
                "--resync=30m", "--poll=2s", "--concurrency=4", "--namespace=team-a", "--namespace=team-b",
                "--lease-name=ops-htx-operator-leader", "--lease-namespace=operators", "--lease-duration=30s"]:
        assert arg in c["args"], (arg, c["args"])
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["RUST_LOG"] == "debug" and env["HTX_LOG_FORMAT"] == "text"
    (pdb,) = find(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    (monitor,) = find(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    (policy,) = find(objects, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"][0]["from"] == OTHER_VALUES["networkPolicy"]["metricsFrom"]


def test_the_default_token_can_be_limited_to_some_namespaces():
    values = {"portal": {"tokenSecret": {"name": "htx-portal-token", "namespaces": ["team-a"],
                                         "namespaceSelector": "htx.vinacis.com/default-token=allowed"}},
              "watchNamespaces": ["team-a", "team-b"]}
    objects = render(values)
    args = container(objects)["args"]
    assert "--default-token-namespace=team-a" in args
    assert "--default-token-selector=htx.vinacis.com/default-token=allowed" in args
    (role,) = find(objects, "ClusterRole")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}]
    (binding,) = find(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    plain = container(render({}))["args"]
    assert not [arg for arg in plain if arg.startswith("--default-token-")], "every namespace by default"


def test_a_wayscloud_default_key_is_passed_and_readable_by_name():
    values = {"providers": {"wayscloud": {"secretName": "ways-key", "key": "apiKey",
                                          "url": "https://ways.example", "ratePerMinute": 30}},
              "watchNamespaces": ["team-a"], "deepResync": "2h"}
    objects = render(values)
    args = container(objects)["args"]
    assert "--provider-default=WaysCloud:htx-system/ways-key,key=apiKey,url=https://ways.example,rate=30" in args
    assert "--deep-resync=2h" in args
    secret_rules = [rule for rule in rules(objects) if "secrets" in rule["resources"] and rule.get("resourceNames")]
    assert [rule["resourceNames"] for rule in secret_rules] == [["htx-portal-token", "ways-key"]]
    plain = container(render({}))["args"]
    assert not [arg for arg in plain if arg.startswith("--provider-default")], "no WaysCloud default unless a Secret is named"


def test_a_paas_default_key_is_passed_and_readable_by_name():
    values = {"providers": {"paas": {"secretName": "paas-key", "key": "apiKey",
                                     "url": "https://paas.example", "ratePerMinute": 40}},
              "watchNamespaces": ["team-a"]}
    objects = render(values)
    args = container(objects)["args"]
    assert "--provider-default=Paas:htx-system/paas-key,key=apiKey,url=https://paas.example,rate=40" in args
    assert not [arg for arg in args if arg.startswith("--provider-default=WaysCloud")]
    secret_rules = [rule for rule in rules(objects) if "secrets" in rule["resources"] and rule.get("resourceNames")]
    assert [rule["resourceNames"] for rule in secret_rules] == [["htx-portal-token", "paas-key"]]


def test_without_leader_election_a_single_replica_is_recreated_and_has_no_lease_rights():
    objects = render({"leaderElection": {"enabled": False, "leaseDuration": "15s"}})
    d = deployment(objects)
    assert d["spec"]["strategy"] == {"type": "Recreate"}
    assert "--leader-election" not in container(objects)["args"]
    assert not find(objects, "Role"), "nothing in the own namespace: no Lease, and the ClusterRole reads the token"


@pytest.mark.parametrize(
    "values, complaint",
    [
        ({"replicas": 2, "leaderElection": {"enabled": False, "leaseDuration": "15s"}}, "/leaderElection/enabled"),
        ({"image": {"tag": "latest"}}, "/image/tag"),
        ({"resync": "10 minutes"}, "/resync"),
        ({"poll": "0s"}, "/poll"),
        ({"leaderElection": {"enabled": True, "leaseDuration": "500ms"}}, "/leaderElection/leaseDuration"),
        ({"logLevel": "verbose"}, "/logLevel"),
        ({"logFormat": "xml"}, "/logFormat"),
        ({"watchNamespaces": ["Team_A"]}, "/watchNamespaces/0"),
        ({"watchNamespaces": "team-a"}, "/watchNamespaces"),
        ({"portal": {"ratePerMinute": 0}}, "/portal/ratePerMinute"),
        ({"portal": {"url": "portal.example"}}, "/portal/url"),
        ({"portal": {"tokenSecret": {"name": "Bad Name"}}}, "/portal/tokenSecret/name"),
        ({"providers": {"wayscloud": {"secretName": "Bad Name"}}}, "/providers/wayscloud/secretName"),
        ({"providers": {"wayscloud": {"url": "https://a.example,rate=9999"}}}, "/providers/wayscloud/url"),
        ({"providers": {"paas": {"secretName": "Bad Name"}}}, "/providers/paas/secretName"),
        ({"providers": {"paas": {"url": "https://a.example,key=x"}}}, "/providers/paas/url"),
        ({"deepResync": "hourly"}, "/deepResync"),
        ({"replicas": -1}, "/replicas"),
        ({"metrics": {"port": 80}}, "/metrics/port"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"replicaCount": 2}, "replicaCount"),
    ],
)
def test_bad_values_are_rejected_by_the_schema(values, complaint):
    with helm_python.Chart.load(CHART) as chart:
        with pytest.raises(helm_python.HelmValuesError) as error:
            chart.render(values, name="htx-operator", namespace="htx-system", is_install=True)
    assert complaint in str(error.value), str(error.value)


def rules(objects: list[dict]) -> list[dict]:
    return [rule for o in objects if o["kind"] in ("ClusterRole", "Role") for rule in o["rules"]]


@pytest.mark.parametrize("values", [{}, OTHER_VALUES], ids=["cluster", "namespaced"])
def test_rbac_is_least_privilege(values):
    objects = render(values)
    for rule in rules(objects):
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
        if "secrets" in rule["resources"]:
            assert not {"list", "watch", "delete", "update", "deletecollection"} & set(rule["verbs"]), rule
        if "leases" in rule["resources"] and set(rule["verbs"]) != {"create"}:
            assert rule.get("resourceNames"), "the Lease is read and renewed by name"
    granted = {(g, r, v) for rule in rules(objects) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    ours = {(g, r, v) for (g, r, v) in granted
            if g in ("htx.vinacis.com", "wayscloud.vinacis.com", "paas.vinacis.com")}
    expected = set()
    for kind in MANAGED_KINDS:
        expected |= {("htx.vinacis.com", kind, verb) for verb in ("get", "list", "watch")}
        expected.add(("htx.vinacis.com", f"{kind}/status", "patch"))
    for kind in ("databases", "functions", "proxies", "providerconfigs"):  # their finalizer
        expected.add(("htx.vinacis.com", kind, "patch"))
    ways = "wayscloud.vinacis.com"
    for kind in WAYS_KINDS:
        expected |= {(ways, kind, verb) for verb in ("get", "list", "watch")}
        expected.add((ways, f"{kind}/status", "patch"))
    for kind in ("waysdatabases", "wayssnapshots"):  # their finalizer
        expected.add((ways, kind, "patch"))
    expected.add((ways, "waysdatabases/finalizers", "update"))  # it owns its connection Secret
    paas = "paas.vinacis.com"
    for kind in PAAS_KINDS:  # watched, their finalizer, their status
        expected |= {(paas, kind, verb) for verb in ("get", "list", "watch", "patch")}
        expected.add((paas, f"{kind}/status", "patch"))
    for kind in ("paasdatabases", "paasredises", "paasbuckets"):  # they own their connection Secret
        expected.add((paas, f"{kind}/finalizers", "update"))
    for kind in ("databases", "functions", "proxies", "backupschedules"):  # they own objects
        expected.add(("htx.vinacis.com", f"{kind}/finalizers", "update"))
    expected |= {("htx.vinacis.com", "backups", "create"), ("htx.vinacis.com", "backups", "delete")}
    assert ours == expected, (ours - expected, expected - ours)
    assert {("events.k8s.io", "events", "create"), ("events.k8s.io", "events", "patch")} <= granted


@pytest.mark.parametrize("values", [{}, {"portal": {"tokenSecret": {"name": "t", "namespaceSelector": "a=b"}}}],
                         ids=["default", "selector"])
def test_every_rbac_rule_has_a_reason(values):
    stream = helm.render(CHART, values, "htx-operator", "htx-system", False)
    for document in stream.split("\n---\n"):
        if re.search(r"^kind: (Cluster)?Role$", document, re.MULTILINE):
            lines = document.splitlines()
            for i, line in enumerate(lines):
                if line.strip().startswith("- apiGroups:"):
                    assert lines[i - 1].strip().startswith("#"), f"a rule without a reason: {lines[i - 1:i + 4]}"


def test_the_chart_crds_are_the_top_level_crds():
    top = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    assert top, "crds/ holds the CRDs"
    assert sorted(p.name for p in (CHART / "crds").glob("*.yaml")) == top, "run hack/update-crds.sh"
    for name in top:
        assert (CHART / "crds" / name).read_text() == (ROOT / "crds" / name).read_text(), f"{name}: run hack/update-crds.sh"


def test_config_is_generated_from_the_chart():
    sys.argv = ["update-config.py", "--check"]
    assert update_config.main() == 0, "config/ is stale: run hack/update-config.py"


def normalized(objects: list[dict]) -> dict[tuple, dict]:
    """Objects by (kind, namespace, name), without Helm's bookkeeping labels."""
    out = {}
    for obj in objects:
        for meta in (obj["metadata"], obj.get("spec", {}).get("template", {}).get("metadata", {})):
            labels = meta.get("labels") or {}
            labels.pop("helm.sh/chart", None)
            labels.pop("app.kubernetes.io/managed-by", None)
        out[(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])] = obj
    return out


@pytest.mark.parametrize("kubectl_binary", ["kubectl", "kubectl-1.20"])
def test_kustomize_default_installs_what_the_chart_installs(kubectl_binary, request):
    binary = request.getfixturevalue("kubectl_1_20") if kubectl_binary == "kubectl-1.20" else "kubectl"
    built = documents(run(binary, "kustomize", ROOT / "config" / "default").stdout)
    assert [o["metadata"]["name"] for o in find(built, "Namespace")] == ["htx-system"]
    built = [o for o in built if o["kind"] != "Namespace"]
    chart = render(crds=True)
    assert normalized(built) == normalized(chart)


def test_samples_are_the_examples():
    samples = documents(run("kubectl", "kustomize", ROOT / "config" / "samples").stdout)
    examples = [d for p in sorted((ROOT / "examples").glob("*.yaml")) for d in documents(p.read_text())]
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(samples, key=key) == sorted(examples, key=key)
