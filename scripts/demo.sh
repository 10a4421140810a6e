#!/usr/bin/env bash
# The main job: the edge scene on one machine. Builds (first run) or reuses etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and KWOK from Go modules, starts a host plane and an edge
# cluster with a Raspberry Pi and a Jetson node, the simulated detector and vAccel agents,
# Prometheus and the operator, then narrates: the Pi falls behind -> offload to the Jetson ->
# real time -> the load drops -> back to the Pi; then a slow disk under the host plane's etcd is
# named by EtcdHealth. Ends with a timeline (and target/demo-timeline.svg); `--keep` leaves it
# running and prints the kubeconfigs; `--mode service` switches through a Service (no new pod).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

ensure_prerequisites
say "building the operator and the test environment"
cargo build -q -j2 -p continuum-operator -p continuum-testenv
ensure_control_plane
say "the edge scene"
exec target/debug/continuum-testenv demo --operator target/debug/continuum-operator --repo . "$@"
