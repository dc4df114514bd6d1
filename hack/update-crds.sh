#!/usr/bin/env bash
# Regenerates crds/ from the Rust types, and their copies in the Helm chart (charts/htx-operator/crds)
# and the kustomize tree (config/crd): tests/crds.rs and tests/install_manifests.rs fail when
# any of them is out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f crds/*.yaml
cargo run --quiet --bin htx-operator -- crds --dir crds
rm -f charts/htx-operator/crds/*.yaml
cp crds/*.yaml charts/htx-operator/crds/
"$(hack/python-env.sh)" hack/update-config.py
