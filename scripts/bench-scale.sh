#!/usr/bin/env bash
# The scale benchmark (crates/operator/benches/scale.rs) for the code before and after, side by
# side: builds the operator at BEFORE (a commit; default: the parent of the scale work) in a
# detached worktree, then runs the bench once with that binary and its CRDs and once with this
# checkout's. Sizes as in the bench (SCALE_POLICIES=10000 ...). Output: bench-scale-<which>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_prerequisites
ensure_control_plane
before=${BEFORE:-85a0012}
tree=${BEFORE_TREE:-${TMPDIR:-/tmp}/continuum-before-$before}
if [ ! -d "$tree" ]; then
  git worktree add --detach "$tree" "$before" >/dev/null
fi
say "building the operator at $before (release)"
(cd "$tree" && CARGO_TARGET_DIR="$tree/target" cargo build -q -j2 --release -p continuum-operator)
out=${OUT_DIR:-.}
say "bench: before ($before)"
SCALE_OPERATOR="$tree/target/release/continuum-operator" SCALE_CRDS="$tree/deploy/crds" \
  cargo bench -q -j2 -p continuum-operator --bench scale | tee "$out/bench-scale-before.txt"
say "bench: after ($(git rev-parse --short HEAD))"
cargo bench -q -j2 -p continuum-operator --bench scale | tee "$out/bench-scale-after.txt"
