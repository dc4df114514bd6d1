#!/usr/bin/env bash
# Regenerates crds/ from the Rust types (tests/crds.rs fails when it is out of date).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f crds/*.yaml
cargo run --quiet --bin htx-operator -- crds --dir crds
