#!/usr/bin/env python3
"""A small `helm` for this repository, on Helm 4's Go SDK (PyPI `helm-python-sdk`): no helm binary.

    "$(hack/python-env.sh)" hack/helm.py lint [VALUES...]
    "$(hack/python-env.sh)" hack/helm.py template [--name N] [--namespace NS] [VALUES...]
    "$(hack/python-env.sh)" hack/helm.py install NAME --namespace NS --kubeconfig FILE [--skip-crds] [VALUES...]
    "$(hack/python-env.sh)" hack/helm.py uninstall NAME --namespace NS --kubeconfig FILE

VALUES are `-f FILE`, `--set a.b=c` and `--set-json 'a=[...]'`, applied in that order as helm
does. The chart is charts/htx-operator unless --chart says otherwise. `template` prints the
manifests as one YAML stream, CRDs first (as `helm template --include-crds`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import helm_python as helm

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "htx-operator"


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values: maps merge, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def user_values(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path in args.values or []:
        values = merge(values, helm.values_from_yaml(Path(path).read_text()))
    for expression in args.set or []:
        values = merge(values, helm.parse_set_string(expression))
    for expression in args.set_json or []:
        values = merge(values, helm.parse_set_json(expression))
    return values


def render(
    chart_dir: Path, values: dict[str, Any], name: str, namespace: str, crds: bool = True
) -> str:
    """The chart's manifests as one YAML stream, in a stable order."""
    with helm.Chart.load(chart_dir) as chart:
        chart.validate_schema(values)
        documents = []
        if crds:
            documents += [crd["data"].strip() for crd in sorted(chart.crds, key=lambda c: c["name"])]
        rendered = chart.render(values, name=name, namespace=namespace, is_install=True)
        for path in sorted(rendered):
            if path.endswith("NOTES.txt"):
                continue
            for document in rendered[path].split("\n---"):
                text = document.strip()
                if text.startswith("---"):
                    text = text[3:].strip()
                if any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
                    documents.append(f"# Source: {path}\n{text}" if not text.startswith("# Source") else text)
    return "---\n" + "\n---\n".join(documents) + "\n"


def install_chart(
    kubeconfig: Path,
    name: str,
    namespace: str,
    values: dict[str, Any],
    chart_dir: Path = CHART,
    create_namespace: bool = False,
    skip_crds: bool = False,
) -> dict[str, Any]:
    """`helm install`. With `skip_crds` (helm's --skip-crds, which helm-python-sdk 0.2.2 does not
    pass on) a copy of the chart without its crds/ folder is installed: for Kubernetes before 1.25,
    where the CRDs go in first without their validation rules (see the chart's README)."""
    with tempfile.TemporaryDirectory() as tmp:
        if skip_crds:
            copy = Path(tmp) / chart_dir.name
            shutil.copytree(chart_dir, copy, ignore=lambda directory, _: ["crds"] if Path(directory) == chart_dir else [])
            chart_dir = copy
        with helm.Config(kubeconfig_path=str(kubeconfig), namespace=namespace) as config:
            return config.install(
                str(chart_dir), name, values, namespace=namespace, create_namespace=create_namespace, timeout=120
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chart", type=Path, default=CHART)
    commands = parser.add_subparsers(dest="command", required=True)

    def values_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("-f", "--values", action="append", help="a values YAML file")
        p.add_argument("--set", action="append", help="helm --set expression")
        p.add_argument("--set-json", action="append", help="helm --set-json expression")

    lint = commands.add_parser("lint", help="helm lint --strict")
    values_args(lint)
    template = commands.add_parser("template", help="render the manifests")
    template.add_argument("--name", default="htx-operator")
    template.add_argument("--namespace", default="htx-system")
    template.add_argument("--skip-crds", action="store_true")
    values_args(template)
    install = commands.add_parser("install", help="helm install (waits for nothing: no kubelet)")
    install.add_argument("name")
    install.add_argument("--namespace", required=True)
    install.add_argument("--kubeconfig", required=True)
    install.add_argument("--create-namespace", action="store_true")
    install.add_argument("--skip-crds", action="store_true", help="install the chart without its CRDs")
    values_args(install)
    uninstall = commands.add_parser("uninstall", help="helm uninstall")
    uninstall.add_argument("name")
    uninstall.add_argument("--namespace", required=True)
    uninstall.add_argument("--kubeconfig", required=True)
    args = parser.parse_args()

    try:
        if args.command == "lint":
            report = helm.lint(args.chart, user_values(args), strict=True)
            for message in report.get("messages") or []:
                print(f"[severity {message['severity']}] {message['path']}: {message['error']}")
            for error in report.get("errors") or []:
                print(f"error: {error}")
            failed = bool(report.get("errors")) or any(
                m["severity"] >= 2 for m in report.get("messages") or []
            )
            print(f"linted {report.get('total_charts_linted')} chart(s): {'FAILED' if failed else 'ok'}")
            return 1 if failed else 0
        if args.command == "template":
            sys.stdout.write(
                render(args.chart, user_values(args), args.name, args.namespace, not args.skip_crds)
            )
            return 0
        if args.command == "install":
            release = install_chart(
                args.kubeconfig,
                args.name,
                args.namespace,
                user_values(args),
                args.chart,
                args.create_namespace,
                args.skip_crds,
            )
            print(json.dumps({k: release.get(k) for k in ("name", "namespace", "revision", "status")}))
            return 0
        if args.command == "uninstall":
            with helm.Config(kubeconfig_path=args.kubeconfig, namespace=args.namespace) as config:
                config.uninstall(args.name)
            return 0
    except helm.HelmError as error:
        print(f"helm {args.command}: {error}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
