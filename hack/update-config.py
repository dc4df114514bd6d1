#!/usr/bin/env python3
"""Writes the kustomize tree config/ from the Helm chart, so that both install the same thing.

    "$(hack/python-env.sh)" hack/update-config.py          # rewrite config/
    "$(hack/python-env.sh)" hack/update-config.py --check  # exit 1 when config/ is out of date

config/crd        the CRDs (copies of crds/: kustomize loads no file outside its directory)
config/rbac       ServiceAccount, ClusterRole and binding, the Role for the leader Lease
config/manager    the Deployment and the metrics Service
config/samples    examples/*.yaml
config/default    all of it but the samples, in namespace htx-system: `kubectl apply -k config/default`

Everything is rendered from charts/htx-operator with its default values (release htx-operator,
namespace htx-system), with Helm's own labels left out. Keep the kustomization files to what the
kustomize v2.0.3 inside kubectl 1.20 understands (`bases` for directories, `resources` for files).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import helm  # noqa: E402  (hack/helm.py)

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "htx-system"
RELEASE = "htx-operator"
HEADER = "# Generated from charts/htx-operator by hack/update-config.py: edit the chart, then run it.\n"

# Where each rendered object goes: (kind, name) -> (directory, file).
PLACES = {
    ("ServiceAccount", "htx-operator"): ("rbac", "service_account.yaml"),
    ("ClusterRole", "htx-operator"): ("rbac", "role.yaml"),
    ("ClusterRoleBinding", "htx-operator"): ("rbac", "role_binding.yaml"),
    ("Role", "htx-operator-self"): ("rbac", "leader_election_role.yaml"),
    ("RoleBinding", "htx-operator-self"): ("rbac", "leader_election_role_binding.yaml"),
    ("Deployment", "htx-operator"): ("manager", "manager.yaml"),
    ("Service", "htx-operator-metrics"): ("manager", "metrics_service.yaml"),
}

# Helm's bookkeeping labels: meaningless without Helm.
HELM_LABEL = re.compile(r"^\s*(helm\.sh/chart|app\.kubernetes\.io/managed-by): .*\n", re.MULTILINE)


def kustomization(comment: str, resources: list[str] = (), bases: list[str] = ()) -> str:
    text = HEADER + f"# {comment}\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    if bases:
        text += "bases:\n" + "".join(f"- {b}\n" for b in bases)
    if resources:
        text += "resources:\n" + "".join(f"- {r}\n" for r in resources)
    return text


def generate(out: Path) -> None:
    """Writes the whole config/ tree into `out`."""
    stream = helm.render(helm.CHART, {}, RELEASE, NAMESPACE, crds=False)
    files: dict[str, dict[str, str]] = {}
    for document in stream.split("\n---\n"):
        text = document.strip().removeprefix("---").strip()
        if not text:
            continue
        obj = yaml.safe_load(text)
        key = (obj["kind"], obj["metadata"]["name"])
        if key not in PLACES:
            raise SystemExit(f"update-config: no place in config/ for {key}: add it to PLACES")
        directory, name = PLACES[key]
        body = "\n".join(line for line in text.splitlines() if not line.startswith("# Source:"))
        files.setdefault(directory, {})[name] = HEADER + HELM_LABEL.sub("", body + "\n")

    crds = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    (out / "crd" / "bases").mkdir(parents=True)
    for name in crds:
        shutil.copyfile(ROOT / "crds" / name, out / "crd" / "bases" / name)
    (out / "crd" / "kustomization.yaml").write_text(
        kustomization("The CustomResourceDefinitions (copies of crds/).", [f"bases/{n}" for n in crds])
    )
    comments = {
        "rbac": "The operator's identity and its least-privilege roles (reasons in role.yaml).",
        "manager": "The operator Deployment and its metrics Service.",
    }
    for directory, contents in files.items():
        (out / directory).mkdir(parents=True)
        for name, text in contents.items():
            (out / directory / name).write_text(text)
        (out / directory / "kustomization.yaml").write_text(
            kustomization(comments[directory], sorted(contents))
        )
    samples = sorted(p.name for p in (ROOT / "examples").glob("*.yaml"))
    (out / "samples").mkdir()
    for name in samples:
        shutil.copyfile(ROOT / "examples" / name, out / "samples" / name)
    (out / "samples" / "kustomization.yaml").write_text(
        kustomization("One object of each kind (copies of examples/).", samples)
    )
    (out / "default").mkdir()
    (out / "default" / "namespace.yaml").write_text(
        HEADER + f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n"
    )
    (out / "default" / "kustomization.yaml").write_text(
        kustomization(
            f"What the Helm chart installs with its default values, in namespace {NAMESPACE}:\n"
            "#   kubectl -n htx-system create secret generic htx-portal-token --from-literal=token=htx_...\n"
            "#   kubectl apply -k config/default",
            ["namespace.yaml"],
            ["../crd", "../rbac", "../manager"],
        )
    )


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when out of date")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "config"
        generate(fresh)
        target = ROOT / "config"
        if args.check:
            want, have = tree(fresh), tree(target) if target.exists() else {}
            stale = sorted(n for n in set(want) | set(have) if want.get(n) != have.get(n))
            if stale:
                print("config/ is out of date with the chart (run hack/update-config.py):", *stale, sep="\n  ")
                return 1
            return 0
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(fresh, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
