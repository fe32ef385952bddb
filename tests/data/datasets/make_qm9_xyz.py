"""Write QM9 molecules (elements + positions only) from shared/data/qm9 as extended XYZ.

Usage: python3 make_qm9_xyz.py OUT.extxyz[.gz] [--stride K]
Reads qm9_part1..3.csv.gz in order (130,831 molecules) from $SHARED_DATA/qm9
(default ../../../../shared/data) and keeps every K-th molecule (default 1: all).
The committed slice tests/data/datasets/qm9_stride650.extxyz.gz was made with
`SHARED_DATA=../../../../shared/data python3 make_qm9_xyz.py qm9_stride650.extxyz.gz --stride 650`
(python 3, stdlib only; gzip mtime fixed to 0 so the bytes are reproducible).
"""
import ast, csv, gzip, os, sys

out, stride = sys.argv[1], 1
if "--stride" in sys.argv:
    stride = int(sys.argv[sys.argv.index("--stride") + 1])
root = os.path.join(os.environ.get("SHARED_DATA", "../../../../shared/data"), "qm9")
csv.field_size_limit(1 << 30)
lines, k = [], 0
for part in (1, 2, 3):
    with gzip.open(os.path.join(root, f"qm9_part{part}.csv.gz"), "rt", newline="") as f:
        for row in csv.DictReader(f):
            if k % stride == 0:
                els = ast.literal_eval(row["Elements"])
                xyz = ast.literal_eval(row["XYZ_Ang"])
                lines.append(f"{len(els)}\n")
                lines.append(f'Properties=species:S:1:pos:R:3 qm9_index={row["Index"]} pbc="F F F"\n')
                for e, p in zip(els, xyz):
                    lines.append(f"{e} {p[0]:.10f} {p[1]:.10f} {p[2]:.10f}\n")
            k += 1
data = "".join(lines).encode()
if out.endswith(".gz"):
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as g:
        g.write(data)
else:
    open(out, "wb").write(data)
print(f"{k} molecules read, {len(lines) and sum(1 for l in lines if l.startswith('Properties'))} written to {out}")
