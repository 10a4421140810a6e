#!/usr/bin/env bash
# The main job on a local real control plane: builds what is needed, starts etcd + kube-apiserver,
# applies the CRDs and the examples, and runs the operator against it until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

ensure_prerequisites
say "building the operator"
cargo build -q -j2 -p continuum-operator -p continuum-testenv
ensure_control_plane
say "starting the control plane and the operator (Ctrl-C stops everything)"
exec target/debug/continuum-testenv up --crds deploy/crds --apply examples --namespace demo \
  -- target/debug/continuum-operator run "$@"
