#!/usr/bin/env bash
# The main job on a local real control plane: builds what is needed, starts etcd + kube-apiserver,
# applies the CRDs, validates the examples, watches the control plane's own etcd with an
# EtcdHealth, and runs the operator against it until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

ensure_prerequisites
say "building the operator"
cargo build -q -j2 -p continuum-operator -p continuum-testenv
ensure_control_plane
say "starting the control plane and the operator (Ctrl-C stops everything)"
# examples/ name in-cluster services (Prometheus, Karmada's etcd) that do not exist here: they are
# checked by the API server (server-side dry run); the EtcdHealth that runs watches this etcd.
exec target/debug/continuum-testenv up --crds deploy/crds --namespace demo --validate examples --watch-own-etcd \
  -- target/debug/continuum-operator run "$@"
