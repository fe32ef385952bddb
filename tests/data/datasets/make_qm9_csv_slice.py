"""Write every K-th QM9 molecule of shared/data/qm9 as one QM9-format CSV (all columns kept).

Usage: python3 make_qm9_csv_slice.py OUT.csv.gz --stride K
Reads qm9_part1..3.csv.gz in order (130,831 molecules) from $SHARED_DATA/qm9
(default ../../../../shared/data) and keeps rows 0, K, 2K, … of the concatenation.
The committed slice qm9_stride200.csv.gz (655 molecules, labels in the original units; the
reader converts them) was made with
`SHARED_DATA=../../../../shared/data python3 make_qm9_csv_slice.py qm9_stride200.csv.gz --stride 200`
(python 3, stdlib only; gzip mtime fixed to 0 so the bytes are reproducible).
Used by the quickstart (SCD pretraining → HOMO fine-tuning on bundled data) and CLI tests.
"""
import csv, gzip, io, os, sys

out = sys.argv[1]
stride = int(sys.argv[sys.argv.index("--stride") + 1]) if "--stride" in sys.argv else 1
root = os.path.join(os.environ.get("SHARED_DATA", "../../../../shared/data"), "qm9")
csv.field_size_limit(1 << 30)
buf = io.StringIO()
writer, k = None, 0
for part in (1, 2, 3):
    with gzip.open(os.path.join(root, f"qm9_part{part}.csv.gz"), "rt", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if writer is None:
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(header)
        for row in reader:
            if k % stride == 0:
                writer.writerow(row)
            k += 1
with open(out, "wb") as f:
    with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as g:
        g.write(buf.getvalue().encode())
print(f"{out}: {k} molecules read, {(k + stride - 1) // stride} written")
