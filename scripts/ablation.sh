#!/usr/bin/env bash
# The student ablation of the README: short runs of the default recipe (distill/student/default.yaml)
# with each loss switched on or off, each architecture piece removed, the map head, full input scale,
# and pair mode; then one table of all of them against the teacher on HPatches.
#   scripts/ablation.sh STORE LIGHTGLUE_STORE [HPATCHES_ROOT]
# STORE: labels of ../shared/data/train-photos + the embedded photos, e.g.
#   distill labels --images ../shared/data/train-photos --embedded
# LIGHTGLUE_STORE: the same with --lightglue. STEPS (default 600) sets the length of every run.
set -euo pipefail
STORE=$1; LIGHTGLUE_STORE=$2; ROOT=${3:-../shared/data/hpatches-real}
BIN=${BIN:-.venv/bin}; STEPS=${STEPS:-600}
off() { for loss in "$@"; do printf -- "--set losses.%s.weight=0 " "$loss"; done; }
run() { name=$1; store=$2; shift 2; "$BIN/distill" train --store "$store" --name "$name" --steps "$STEPS" --quiet "$@"; }
run abl-default      "$STORE"
run abl-no-kl        "$STORE" $(off kl)
run abl-no-focal     "$STORE" $(off focal)
run abl-no-attentive "$STORE" $(off attentive)
run abl-kl-only      "$STORE" $(off focal attentive)
run abl-focal-only   "$STORE" $(off kl attentive)
run abl-mqd          "$STORE" --set losses.kl.focal_gamma=2
run abl-huber        "$STORE" --set losses.huber.weight=1
run abl-consistency  "$STORE" --set losses.consistency.weight=1
run abl-pair         "$LIGHTGLUE_STORE" --set pair.enabled=true
run abl-no-detail    "$STORE" --set detail_channels=0
run abl-no-pixels    "$STORE" --set pixel_shortcut=false
run abl-map          "$STORE" --head map
run abl-full-scale   "$STORE" --set input_scale=1.0
args=()
for name in default no-kl no-focal no-attentive kl-only focal-only mqd huber consistency pair no-detail no-pixels map full-scale; do
  args+=(--checkpoint "runs/abl-$name/best.pt")
done
"$BIN/python" scripts/bench_student.py --root "$ROOT" "${args[@]}"
