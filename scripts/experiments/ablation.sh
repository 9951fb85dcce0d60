#!/usr/bin/env bash
# The student ablation of docs/experiments.md: short runs of the default recipe (TrainConfig in distill/student/config.py)
# with each loss switched on or off, the map head, homographic augmentation on, the detail branch
# removed or started coarser, and full input scale; then one table of all of them against the
# teacher on HPatches (about 70 minutes on 2 CPU cores at 500 steps).
#   scripts/experiments/ablation.sh STORE [LIGHTGLUE_STORE]
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
# --resume: an interrupted ablation picks up where it stopped; finished runs return at once; a leftover
# runs/abl-NAME of another recipe is refused (move it away)
run() { name=$1; store=$2; shift 2; names+=("$name"); "$BIN/distill" train --store "$store" --name "abl-$name" --steps "$STEPS" --resume --quiet "$@"; }
run focal-attentive        "$STORE" $(losses 1 0 1 0 0)   # the default
run focal-kl-attentive     "$STORE" $(losses 1 1 1 0 0)
run focal                  "$STORE" $(losses 1 0 0 0 0)
run attentive              "$STORE" $(losses 0 0 1 0 0)
run focal-attentive-huber  "$STORE" $(losses 1 0 1 1 0)
run focal-attentive-consistency "$STORE" $(losses 1 0 1 0 1)
run map-focal-kl-attentive "$STORE" $(losses 1 1 1 0 0) --head map
run warp                   "$STORE" $(losses 1 0 1 0 0) --set warp=true   # homographic augmentation on
run no-detail              "$STORE" $(losses 1 0 1 0 0) --set student.detail_channels=0
run detail-from-4          "$STORE" $(losses 1 0 1 0 0) --set student.detail_start=4
run full-scale             "$STORE" $(losses 1 0 1 0 0) --set student.input_scale=1.0
if [ -n "$LIGHTGLUE_STORE" ]; then run pair "$LIGHTGLUE_STORE" $(losses 1 0 1 0 0) --set pair.enabled=true; fi
args=()  # last.pt: every row after equal training
for name in "${names[@]}"; do args+=(--checkpoint "runs/abl-$name/last.pt"); done
"$BIN/distill" bench students --root "$ROOT" --out out/ablation --overwrite "${args[@]}"   # distill report --ablation out/ablation/results.json
