#!/usr/bin/env bash
# The student ablation of the README: short runs of the default recipe (distill/student/default.yaml)
# with each loss switched on or off, each architecture piece removed, the map head and full input
# scale; then one table of all of them against the teacher on HPatches.
#   scripts/ablation.sh STORE [LIGHTGLUE_STORE]
# STORE: labels of ../shared/data/train-photos + the embedded photos, e.g.
#   distill labels --images ../shared/data/train-photos --embedded
# LIGHTGLUE_STORE (optional): the same with --lightglue, for a pair-mode run.
# Environment: STEPS (default 600) per run, HPATCHES_ROOT (default ../shared/data/hpatches-real), BIN (.venv/bin).
set -euo pipefail
STORE=$1; LIGHTGLUE_STORE=${2:-}
ROOT=${HPATCHES_ROOT:-../shared/data/hpatches-real}; BIN=${BIN:-.venv/bin}; STEPS=${STEPS:-600}
names=()
off() { for loss in "$@"; do printf -- "--set losses.%s.weight=0 " "$loss"; done; }
run() { name=$1; store=$2; shift 2; names+=("$name"); "$BIN/distill" train --store "$store" --name "abl-$name" --steps "$STEPS" --quiet "$@"; }
run default        "$STORE"
run no-kl          "$STORE" $(off kl)
run no-focal       "$STORE" $(off focal)
run no-attentive   "$STORE" $(off attentive)
run kl-only        "$STORE" $(off focal attentive)
run focal-only     "$STORE" $(off kl attentive)
run attentive-1000 "$STORE" --set losses.attentive.weight=1000
run mqd            "$STORE" --set losses.kl.focal_gamma=2
run huber          "$STORE" --set losses.huber.weight=1
run consistency    "$STORE" --set losses.consistency.weight=1
run no-detail      "$STORE" --set detail_channels=0
run no-pixels      "$STORE" --set pixel_shortcut=false
run map            "$STORE" --head map
run full-scale     "$STORE" --set input_scale=1.0
if [ -n "$LIGHTGLUE_STORE" ]; then run pair "$LIGHTGLUE_STORE" --set pair.enabled=true; fi
args=()
for name in "${names[@]}"; do args+=(--checkpoint "runs/abl-$name/best.pt"); done
"$BIN/python" scripts/bench_student.py --root "$ROOT" "${args[@]}"
