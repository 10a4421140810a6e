#!/usr/bin/env bash
# The main job: the edge scene on one machine. Builds (first run) or reuses etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and KWOK from Go modules, starts a host plane and an edge
# cluster with a Raspberry Pi and a Jetson node, the simulated detector and vAccel agents,
# Prometheus and the operator, then narrates: the Pi falls behind -> offload to the Jetson ->
# real time -> the Pi's own load (pi_load) drops -> back to the Pi, the trial holds; then a slow
# disk under the host plane's etcd is named by EtcdHealth. `--scenario sustained` keeps the Pi
# overloaded instead: returns judged on the Jetson's fps fail their trials, the back-off grows and
# the workload stays on the Jetson. Ends with a timeline, the switches, time on each backend and
# failed trials (and target/demo-timeline.svg, or --svg PATH); `--keep` leaves it running and prints
# the kubeconfigs; `--mode service` switches through a Service (no new pod); `--help` lists the flags.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

ensure_prerequisites
say "building the operator and the demo"
cargo build -q -j2 -p continuum-operator -p continuum-demo
ensure_control_plane
say "the edge scene"
# continuum-demo runs the continuum-operator built next to it, in whichever target directory
# cargo uses (CARGO_TARGET_DIR or not); --operator PATH overrides it.
exec cargo run -q -j2 -p continuum-demo --bin continuum-demo -- --repo . "$@"
