#!/usr/bin/env bash
# The student ablation of the README: short runs of the default recipe (distill/student/default.yaml)
# with each loss switched on or off, homographic augmentation on, each architecture piece removed,
# the map head and full input scale; then one table of all of them against the teacher on HPatches.
#   scripts/ablation.sh STORE [LIGHTGLUE_STORE]
# STORE: labels of ../shared/data/train-photos + the embedded photos, e.g.
#   distill labels --images ../shared/data/train-photos --embedded
# LIGHTGLUE_STORE (optional): the same with --lightglue, for a pair-mode run.
# Environment: STEPS (default 500) per run, HPATCHES_ROOT (default ../shared/data/hpatches-real), BIN (.venv/bin).
set -euo pipefail
STORE=$1; LIGHTGLUE_STORE=${2:-}
ROOT=${HPATCHES_ROOT:-../shared/data/hpatches-real}; BIN=${BIN:-.venv/bin}; STEPS=${STEPS:-500}
names=()
# losses F K A H C: the weights of focal, kl, attentive, huber, consistency (explicit, whatever the defaults)
losses() { printf -- "--set losses.focal.weight=%s --set losses.kl.weight=%s --set losses.attentive.weight=%s --set losses.huber.weight=%s --set losses.consistency.weight=%s" "$@"; }
# --resume: an interrupted ablation picks up where it stopped; finished runs return at once
run() { name=$1; store=$2; shift 2; names+=("$name"); "$BIN/distill" train --store "$store" --name "abl-$name" --steps "$STEPS" --resume --quiet "$@"; }
run focal-attentive        "$STORE" $(losses 1 0 1 0 0)   # the default
run focal-kl-attentive     "$STORE" $(losses 1 1 1 0 0)
run focal                  "$STORE" $(losses 1 0 0 0 0)
run attentive              "$STORE" $(losses 0 0 1 0 0)
run kl-attentive           "$STORE" $(losses 0 1 1 0 0)
run focal-attentive-1000   "$STORE" $(losses 1 0 1000 0 0)
run focal-mqd-attentive    "$STORE" $(losses 1 1 1 0 0) --set losses.kl.focal_gamma=2
run focal-attentive-huber  "$STORE" $(losses 1 0 1 1 0)
run focal-attentive-consistency "$STORE" $(losses 1 0 1 0 1)
run warp                   "$STORE" $(losses 1 0 1 0 0) --set warp=true   # homographic augmentation on
run no-detail              "$STORE" $(losses 1 0 1 0 0) --set detail_channels=0
run detail-64              "$STORE" $(losses 1 0 1 0 0) --set detail_channels=64
run pixels                 "$STORE" $(losses 1 0 1 0 0) --set pixel_shortcut=true
run map-focal-kl-attentive "$STORE" $(losses 1 1 1 0 0) --head map
run full-scale             "$STORE" $(losses 1 0 1 0 0) --set input_scale=1.0
if [ -n "$LIGHTGLUE_STORE" ]; then run pair "$LIGHTGLUE_STORE" $(losses 1 0 1 0 0) --set pair.enabled=true; fi
args=()
for name in "${names[@]}"; do args+=(--checkpoint "runs/abl-$name/best.pt"); done
"$BIN/python" scripts/bench_student.py --root "$ROOT" "${args[@]}"
