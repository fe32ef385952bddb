#!/usr/bin/env bash
# Training throughput of the one engine against the host optimiser it replaced, in the same run:
# an SCD step of CT 256/8/8 (batch 32) and UniGEM steps (configs/unigem-qm9-unigem.toml, batch
# 32 and 128), on burn's flex CPU backend and on wgpu (a GPU, or lavapipe without one), with
# steps/s and the host↔device traffic per step.
#
#   scripts/bench-train.sh [--devices flex,wgpu] [--steps 6] [--base 4bfe0d7]
#                          [--jobs scd-ct256-b32,unigem-b32,unigem-b128] [--reuse]
#                          [--repeat 5]
#
# This machine's speed drifts by ±15 % from one minute to the next (one pair of runs has read
# 0.86 and, an hour later, 1.20): each job runs --repeat times, before and after interleaved
# (the order alternating), and the table gives the median steps/s of each side, the ratio of
# the medians and the range of the per-pair ratios.
#
# --reuse runs the binaries kept from the last build ($CARGO_TARGET_DIR/bench-train/) instead of
# building both again (a release build of the workspace crates takes a quarter of an hour on 2
# cores).
#
# "before" is the release binary of commit BASE (the last with the host optimiser), built from
# a git worktree into the same target directory; "after" is the working tree's. Steps/s come
# from the `seconds` of the training rows (step 2 to the one before the last: the first step's
# kernel compilation and autotuning are left out, and so is the last, which reads the whole
# state for its checkpoint). The engine's traffic is what its metrics rows count; the host optimiser's is computed from what it did each step (read every gradient and
# upload every weight as f32, read the loss and its parts, and for the denoising objectives the
# whole noise prediction) plus the same batch uploads — it has no counters.
# Data: the shared QM9 (../shared/data/qm9, see docs/data.md).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
DEVICES=flex,wgpu STEPS=6 BASE=4bfe0d7 JOBS=scd-ct256-b32,unigem-b32,unigem-b128 REUSE=0 REPEAT=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --devices) DEVICES="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --base) BASE="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --reuse) REUSE=1; shift ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nucleate-target}"
qm9="$root/../shared/data/qm9"
[[ -f "$qm9/qm9_part1.csv.gz" ]] || { echo "needs $qm9 (docs/data.md)" >&2; exit 1; }
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/base" 2>/dev/null || true; rm -rf "$work"' EXIT

keep="$CARGO_TARGET_DIR/bench-train"
mkdir -p "$keep"
if [[ $REUSE = 1 && -x "$keep/before-$BASE" && -x "$keep/after" ]]; then
  echo "reusing $keep/before-$BASE and $keep/after"
else
  # The base first, so that the target directory's release binary ends as the working tree's.
  git -C "$root" worktree add -q --detach "$work/base" "$BASE"
  (cd "$work/base" && cargo build --release -q -p nucleate --locked)
  cp "$CARGO_TARGET_DIR/release/nucleate" "$keep/before-$BASE"
  # Cargo names the workspace's crates by paths relative to the workspace root and judges them
  # fresh by file times: the base's newer artifacts would pass for the working tree's. Touch
  # its sources so that they are rebuilt.
  find core native shaders web tests -name '*.rs' -exec touch {} +
  cargo build --release -q -p nucleate --locked
  cp "$CARGO_TARGET_DIR/release/nucleate" "$keep/after"
fi
cp "$keep/before-$BASE" "$work/before"
cp "$keep/after" "$work/after"

data="[\"$qm9/qm9_part1.csv.gz\"]"
scd() { # binary device dir
  "$1" pretrain --config configs/ct-qm9-scd.toml --device "$2" --run "$3" --fresh \
    --set model.ct.et.hidden_channels=256 --set model.ct.et.num_layers=8 \
    --set model.ct.et.num_heads=8 --set train.batch_size=32 --set "train.steps=$STEPS" \
    --set train.log_every=1 --set "train.checkpoint_every=$STEPS" --set train.eval_every=1000000 \
    --set "data.paths=$data" --set data.test=100 --set data.val=100 >/dev/null 2>"$3.err"
}
unigem() { # binary device dir batch
  "$1" train unigem --config configs/unigem-qm9-unigem.toml --device "$2" -o "$3" \
    --data "$qm9/qm9_part1.csv.gz" --batch "$4" --steps "$STEPS" --checkpoint-every "$STEPS" \
    >"$3.out" 2>"$3.err"
}
echo "steps/s before and after; reads and MB moved per step (logged steps of the engine; the host"
echo "optimiser's computed, it had no counters)"
echo "(median of $REPEAT interleaved runs each; 'pairs' is the range of the per-pair ratios)"
printf '%-14s %-6s %9s %9s %6s %11s   %6s %9s   %5s %9s %9s\n' job device before after ratio \
  pairs reads MB reads "MB up" "B down"
for device in ${DEVICES//,/ }; do
  for job in ${JOBS//,/ }; do
    for r in $(seq 1 "$REPEAT"); do
      if (( r % 2 )); then order="before after"; else order="after before"; fi
      for side in $order; do
      dir="$work/$job-$device-$side-$r"
      case $job in
        scd-*) scd "$work/$side" "$device" "$dir" ;;
        unigem-b32) unigem "$work/$side" "$device" "$dir" 32 ;;
        unigem-b128) unigem "$work/$side" "$device" "$dir" 128 ;;
      esac
      done
    done
    python3 - "$work" "$job" "$device" "$REPEAT" <<'EOF'
import json, re, statistics, struct, sys, pathlib
work, job, device = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
repeat = int(sys.argv[4])
def run(side):  # side: "before-3", "after-1", ...
    return work / f"{job}-{device}-{side}"
def rows(side):
    m = run(side) / "metrics.jsonl"
    out = [json.loads(l) for l in m.read_text().splitlines()] if m.exists() else []
    return [r for r in out if r.get("split", "train") == "train"]
def rate(side):
    if job.startswith("scd"):  # rows of every step: step 2 .. the one before the checkpoint
        t = [r["seconds"] for r in rows(side)][:-1]
        return (len(t) - 2) / (t[-1] - t[1])
    out = pathlib.Path(str(run(side)) + ".out").read_text()
    steps, secs = re.search(r"trained (\d+) steps .* in ([0-9.]+) s", out).groups()
    return int(steps) / float(secs)
def values():  # parameter values, from the engine's checkpoint header
    raw = (run("after-1") / "checkpoint.bin").read_bytes()
    (n,) = struct.unpack("<Q", raw[8:16])
    h = json.loads(raw[16:16 + n])
    return sum(h["sizes"]), len(h["sizes"])
pairs = [(rate(f"before-{k}"), rate(f"after-{k}")) for k in range(1, repeat + 1)]
before = statistics.median(b for b, _ in pairs)
after = statistics.median(a for _, a in pairs)
ratios = [a / b for b, a in pairs]
spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
r = rows("after-1")
reads = sum(x["reads"] for x in r) / len(r)
up = sum(x["bytes_to_device"] for x in r) / len(r)
# Logged steps that are not the final checkpoint (which reads the whole state once).
plain = [x for x in r if x["step"] != r[-1]["step"]]
down = f"{sum(x['bytes_to_host'] for x in plain) / len(plain):9.0f}" if plain else "        -"
n, p = values()
# The host optimiser: the same batch uploads, every gradient read (one read per parameter) and
# every weight uploaded, 4 bytes per value each way, plus a few scalar reads.
b_reads, b_bytes = p + 3, up + 8 * n
print(f"{job:<14} {device:<6} {before:9.3f} {after:9.3f} {after / before:6.2f} {spread:>11}   "
      f"{b_reads:6.0f} {b_bytes / 1e6:9.2f}   {reads:5.1f} {up / 1e6:9.3f} {down}")
EOF
  done
done
