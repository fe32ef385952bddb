#!/usr/bin/env bash
# Does SCD pretraining help? Pretrain the small CT of configs/ct-qm9-scd.toml with SCD and with
# plain coordinate denoising for the same number of steps on QM9 structures (labels unused, the
# held-out molecules excluded), fine-tune HOMO on the same 1,000 labelled molecules from each and
# from scratch with equal budgets and seeds, evaluate all on the same held-out molecules and
# print the table (test MAE in meV). Everything is seeded: the same command prints the same table.
#
#   scripts/scd-gain.sh [--pretrain-steps N] [--finetune-steps N] [--seeds "0 1 2"]
#                       [--out DIR] [--jobs J] [--device cpu|flex|wgpu] [--quick] [--fresh]
#
# Runs resume from their checkpoints (rerunning a finished command only re-evaluates); --fresh
# discards them and starts every run over (needed after the configs changed).
# --jobs 2 runs two trainings at a time; each gets nproc/jobs threads (RAYON_NUM_THREADS, unless set).
#
# --quick uses the bundled 655-molecule QM9 slice (tests/data/datasets/qm9_stride200.csv.gz;
# 60 test, 20 validation, 100 labelled molecules) and tiny budgets: the quickstart's few-minute
# demonstration of the pipeline, not evidence. Without it: all of QM9 from ../shared/data.
# Set NUCLEATE to a built binary to skip `cargo run`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nucleate-target}"
export PATH="$HOME/.cargo/bin:$PATH"

pre_steps=400
ft_steps=300
seeds="0 1 2"
jobs=1
out=runs/scd-gain
quick=0
fresh=()
device=cpu
while [ $# -gt 0 ]; do
  case "$1" in
    --pretrain-steps) pre_steps=$2; shift 2 ;;
    --finetune-steps) ft_steps=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --fresh) fresh=(--fresh); shift ;;
    --device) device=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

common=()
if [ "$quick" = 1 ]; then
  common=(--set 'data.paths=["../tests/data/datasets/qm9_stride200.csv.gz"]'
          --set data.test=60 --set data.val=20 --set train.batch_size=16
          --set train.warmup=10 --set train.eval_every=20 --set train.checkpoint_every=20)
  ft_common=(--set data.train=100)
else
  ft_common=()
fi

if [ -n "${NUCLEATE:-}" ]; then
  nucleate() { "$NUCLEATE" "$@"; }
else
  cargo build --locked -q -p nucleate
  nucleate() { "$CARGO_TARGET_DIR/debug/nucleate" "$@"; }
fi

mkdir -p "$out"
# Parallel runs share the cores: each CPU backend's thread pool (flex's rayon) gets its part.
if [ -z "${RAYON_NUM_THREADS:-}" ]; then
  export RAYON_NUM_THREADS=$(( $(nproc) / jobs > 0 ? $(nproc) / jobs : 1 ))
fi
# Runs "$@" in the background, at most $jobs at a time; its output goes to $out/<name>.log.
pids=()
spawn() {
  local name=$1; shift
  echo "== $name (log: $out/$name.log)"
  "$@" > "$out/$name.log" 2>&1 &
  pids+=($!)
  if [ "${#pids[@]}" -ge "$jobs" ]; then drain; fi
}
drain() {
  local failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  pids=()
  if [ "$failed" = 1 ]; then echo "a run failed; see the logs in $out" >&2; exit 1; fi
}
t0=$(date +%s)
for obj in scd coord; do
  spawn "pretrain-$obj" nucleate pretrain --config "configs/ct-qm9-$obj.toml" \
    --run "$out/pretrain-$obj" --set train.steps="$pre_steps" --device "$device" "${common[@]}" "${fresh[@]}"
done
drain
for seed in $seeds; do
  for arm in scratch coord scd; do
    init=()
    if [ "$arm" != scratch ]; then init=(--init "$out/pretrain-$arm/model"); fi
    spawn "finetune-$arm-s$seed" nucleate finetune --config configs/ct-qm9-finetune.toml \
      --run "$out/finetune-$arm-s$seed" --set train.steps="$ft_steps" --set train.seed="$seed" \
      --device "$device" "${common[@]}" "${ft_common[@]}" "${init[@]}" "${fresh[@]}"
  done
done
drain
elapsed=$(( $(date +%s) - t0 ))

python3 - "$out" "$pre_steps" "$ft_steps" "$seeds" "$elapsed" "$device" <<'EOF'
import json, os, statistics, sys
out, pre, ft, seeds, elapsed, device = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(), sys.argv[5], sys.argv[6]
rows = {}
for arm in ("scratch", "coord", "scd"):
    for s in seeds:
        e = json.load(open(os.path.join(out, f"finetune-{arm}-s{s}", "eval.json")))
        rows.setdefault(arm, []).append((s, e))
n_test = rows["scratch"][0][1]["n_test"]
table = []
print()
print(f"HOMO test MAE (meV) on {n_test} held-out QM9 molecules; small CT (see configs/ct-qm9-*.toml)")
print(f"pretraining {pre} steps per objective (seed 0), fine-tuning {ft} steps on the labelled set;")
print(f"device {device}")
print("batch sizes and the rest in the run directories' config.toml")
print()
print(f"| start   | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± sd | vs scratch |")
print("|---------|" + "|".join("-------" for _ in seeds) + "|-----------|------------|")
base = statistics.mean(e["test_mae"] * 1000 for _, e in rows["scratch"])
summary = {}
for arm in ("scratch", "coord", "scd"):
    maes = [e["test_mae"] * 1000 for _, e in rows[arm]]
    m = statistics.mean(maes)
    sd = statistics.stdev(maes) if len(maes) > 1 else 0.0
    rel = (m - base) / base * 100
    summary[arm] = {"mae_mev": maes, "mean": m, "sd": sd, "vs_scratch_percent": rel}
    print(f"| {arm:7} | " + " | ".join(f"{v:5.1f}" for v in maes) + f" | {m:5.1f} ± {sd:4.1f} | {rel:+6.1f} % |")
print()
print(f"total wall time {elapsed} s; paper (full scale): SCD 37 % below scratch on HOMO")
json.dump({"pretrain_steps": int(pre), "finetune_steps": int(ft), "seeds": seeds, "device": device,
           "n_test": n_test, "arms": summary, "seconds": int(elapsed)},
          open(os.path.join(out, "table.json"), "w"), indent=1)
EOF
