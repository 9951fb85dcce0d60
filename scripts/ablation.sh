#!/usr/bin/env bash
# The student ablation of the README: short runs that switch each loss on or off, both heads, both
# input scales, and pair mode; then one table of all of them against the teacher on HPatches.
#   scripts/ablation.sh STORE LIGHTGLUE_STORE [HPATCHES_ROOT]
# STORE: labels of ../shared/data/train-photos + the embedded photos, e.g.
#   distill labels --images ../shared/data/train-photos --embedded -n 20
# LIGHTGLUE_STORE: the same with --lightglue.
set -euo pipefail
STORE=$1; LIGHTGLUE_STORE=$2; ROOT=${3:-../shared/data/hpatches-real}
BIN=${BIN:-.venv/bin}
NO_KL="--set losses.kl.weight=0"
NO_F="--set losses.focal.weight=0"; NO_A="--set losses.attentive.weight=0"
HALF="--set input_scale=0.5"
run() { name=$1; store=$2; shift 2; "$BIN/distill" train --store "$store" --name "$name" --steps 300 --quiet "$@"; }
run half-fak      "$STORE" $HALF
run half-fa       "$STORE" $HALF $NO_KL
run half-focal    "$STORE" $HALF $NO_KL $NO_A
run half-attentive "$STORE" $HALF $NO_KL $NO_F
run half-kl       "$STORE" $HALF $NO_F $NO_A
run half-ak       "$STORE" $HALF $NO_F
run half-fk       "$STORE" $HALF $NO_A
run half-fak-huber "$STORE" $HALF --set losses.huber.weight=1
run half-fak-cons "$STORE" $HALF --set losses.consistency.weight=1
run cell-fak      "$STORE" --head cell
run full-fak      "$STORE"
run half-fak-pair "$LIGHTGLUE_STORE" $HALF --set pair.enabled=true
args=()
for name in half-fak half-fa half-focal half-attentive half-kl half-ak half-fk half-fak-huber half-fak-cons cell-fak full-fak half-fak-pair; do
  args+=(--checkpoint "runs/$name/best.pt")
done
"$BIN/python" scripts/bench_student.py --root "$ROOT" "${args[@]}"
