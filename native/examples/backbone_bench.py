"""TorchMD-Net's ET on the same molecules as backbone_bench.rs: forward and forward+backward
molecules/s (best of REPEATS batches after one warm-up), printed beside ours with ratios.

Usage: python backbone_bench.py MOLECULES.extxyz OURS.json [--batches 32,128] [--repeats 2] [--threads 1]
                                [--sizes 256/8/8,128/6/8] [--device cpu|cuda]
Environment: torch + torchmd-net 3.1.0 + ase (see tests/fixtures/torchmdnet/README.md). On CUDA the
clock stops after torch.cuda.synchronize() and the peak memory torch allocated is printed.
"""
import argparse, json, time

import ase.io
import torch
from torchmdnet.models.model import create_model

ap = argparse.ArgumentParser()
ap.add_argument("molecules")
ap.add_argument("ours")
ap.add_argument("--batches", default="32,128")
ap.add_argument("--repeats", type=int, default=2)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--sizes", default="256/8/8,128/6/8")
ap.add_argument("--device", default="cpu")
a = ap.parse_args()
dev = torch.device(a.device)
cuda = dev.type == "cuda"


def sync():
    if cuda:
        torch.cuda.synchronize()
torch.set_num_threads(a.threads)
mols = ase.io.read(a.molecules, index=":")
ours = {(r["model"], r["F"], r["L"], r["batch"]): r for r in json.load(open(a.ours))}


def batch_of(start, size):
    z, pos, b = [], [], []
    for k in range(size):
        m = mols[(start + k) % len(mols)]
        z.append(torch.tensor(m.numbers, dtype=torch.long))
        pos.append(torch.tensor(m.positions, dtype=torch.float32))
        b.append(torch.full((len(m),), k, dtype=torch.long))
    return torch.cat(z).to(dev), torch.cat(pos).to(dev), torch.cat(b).to(dev)


print(f"torch {torch.__version__} on {dev}, {a.threads} thread(s); TorchMD-Net ET (equivariant-transformer, EquivariantScalar head (prefix added by create_model), sum)")
print(f"{'model':<6}{'F/L/H':>10}{'batch':>7}{'torch fwd':>11}{'torch f+b':>11}{'ours fwd':>10}{'ours f+b':>10}{'fwd ratio':>11}{'f+b ratio':>11}{'torch MiB':>11}")
for F, L, H in [tuple(int(x) for x in s.split("/")) for s in a.sizes.split(",")]:
    K = 64 if F >= 256 else 32
    model = create_model(dict(
        embedding_dimension=F, num_layers=L, num_heads=H, num_rbf=K, rbf_type="expnorm",
        trainable_rbf=False, activation="silu", attn_activation="silu", neighbor_embedding=True,
        distance_influence="both", cutoff_lower=0.0, cutoff_upper=5.0, max_z=118,
        max_num_neighbors=64, vector_cutoff=True, model="equivariant-transformer",
        output_model="Scalar", reduce_op="sum", precision=32, prior_model=None,
        atom_filter=-1, derivative=False)).to(dev)
    for bs in [int(x) for x in a.batches.split(",")]:
        batches = [batch_of(r * bs, bs) for r in range(a.repeats + 1)]
        def run(backward):
            best = float("inf")
            for r, (z, pos, b) in enumerate(batches):
                sync()
                t0 = time.perf_counter()
                if backward:
                    model.zero_grad(set_to_none=True)
                    e, _ = model(z, pos, b)
                    e.sum().backward()
                else:
                    with torch.no_grad():
                        e, _ = model(z, pos, b)
                sync()
                dt = time.perf_counter() - t0
                if r > 0:
                    best = min(best, dt)
            return bs / best
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        fwd, fb = run(False), run(True)
        mib = torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan")
        o = ours.get(("ET", F, L, bs))
        of, ob = (o["fwd_mol_s"], o["fwd_bwd_mol_s"]) if o else (float("nan"), float("nan"))
        print(f"{'ET':<6}{f'{F}/{L}/{H}':>10}{bs:>7}{fwd:>11.1f}{fb:>11.1f}{of:>10.1f}{ob:>10.1f}{of / fwd:>11.2f}{ob / fb:>11.2f}{mib:>11.0f}")
print("ratio = ours / torch (> 1: nucleate faster)")
