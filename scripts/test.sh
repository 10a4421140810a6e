#!/usr/bin/env bash
# Runs every check and test: formatting, lints, generated-file freshness, unit tests and the
# end-to-end tests on a real etcd + kube-apiserver. Installs what a fresh machine lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

ensure_prerequisites
say "building the workspace"
cargo build -j2 --workspace --all-targets
ensure_control_plane
say "generated CRDs are up to date"
cargo run -q -j2 -p continuum-operator -- crd --write deploy/crds --write charts/continuum-operator/crds --check
say "formatting and lints"
cargo fmt --all --check
cargo clippy -q -j2 --workspace --all-targets -- -D warnings
say "API types compile against the oldest supported Kubernetes (1.33)"
cargo check -q -j2 -p continuum-api --no-default-features --features earliest
say "tests (unit, integration and end-to-end on the real control plane)"
# Each end-to-end test starts its own control plane: three at a time keep 2 cores responsive.
cargo test -j2 --workspace -- --test-threads=3
