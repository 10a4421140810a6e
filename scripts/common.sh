# Shared by the scripts: checks and installs what a fresh machine needs.
# shellcheck shell=bash

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_prerequisites() {
  command -v cargo >/dev/null || { echo "cargo is missing: install Rust (https://rustup.rs)" >&2; exit 1; }
  command -v go >/dev/null || { echo "go is missing: install Go 1.26 or newer (https://go.dev/dl)" >&2; exit 1; }
  local need=()
  command -v openssl >/dev/null || need+=(openssl)
  command -v strace >/dev/null || need+=(strace)          # real slow disks: fsync delay injection
  command -v prometheus >/dev/null || need+=(prometheus)  # real Prometheus for cross-checks
  command -v promtool >/dev/null || need+=(prometheus)    # the chart's alert rules, unit-tested
  if ((${#need[@]})); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing ${need[*]} with apt-get"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
      echo "missing: ${need[*]} (install them with your package manager)" >&2
      exit 1
    fi
  fi
}

# Builds (first run: several minutes) or reuses the cached etcd, kube-apiserver, kubectl and helm.
ensure_control_plane() {
  say "control plane binaries and helm (built from Go modules once per machine, then cached)"
  cargo run -q -j2 -p continuum-testenv -- build
}
