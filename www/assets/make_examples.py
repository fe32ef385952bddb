"""Regenerate the bundled example files of the web page from shared/data (numpy 2.x).

  SHARED_DATA=../../../shared/data python3 make_examples.py

* aspirin_rmd17.extxyz: rMD17 aspirin, all frames of the 10 official split files
  (rmd17/rmd17_aspirin_{train,test}_0{1..5}.npz) de-duplicated by `old_indices`, sorted by
  it (= time order of the original MD trajectory) and the first 80 kept; energy (kcal/mol) and
  forces (kcal/mol/Å) as in the files. CC0 (rMD17, Christensen & von Lilienfeld 2020).
* perovskite_TlCoN2O.cif: the CIF of the first record of crystals/perov_5_dev/train.csv.gz
  (CDVAE perov_5, MIT licence), verbatim.
"""
import csv, gzip, os
import numpy as np

root = os.environ.get("SHARED_DATA", "../../../shared/data")
frames = {}
for split in ("train", "test"):
    for k in range(1, 6):
        d = np.load(os.path.join(root, "rmd17", f"rmd17_aspirin_{split}_0{k}.npz"))
        for old, xyz, e, f in zip(d["old_indices"], d["coords"], d["energies"], d["forces"]):
            frames[int(old)] = (xyz, float(e), f)
        z = d["nuclear_charges"]
symbols = {1: "H", 6: "C", 8: "O"}
with open("aspirin_rmd17.extxyz", "w") as out:
    for old in sorted(frames)[:80]:
        xyz, e, f = frames[old]
        out.write(f"{len(z)}\n")
        out.write(
            f'Properties=species:S:1:pos:R:3:forces:R:3 energy={e:.6f} rmd17_old_index={old} '
            f'pbc="F F F" units="energy kcal/mol, forces kcal/mol/A"\n'
        )
        for zi, p, fi in zip(z, xyz, f):
            out.write(f"{symbols[int(zi)]} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f} {fi[0]:.6f} {fi[1]:.6f} {fi[2]:.6f}\n")
csv.field_size_limit(1 << 30)
with gzip.open(os.path.join(root, "crystals", "perov_5_dev", "train.csv.gz"), "rt", newline="") as f:
    row = next(csv.DictReader(f))
with open("perovskite_TlCoN2O.cif", "w") as out:
    out.write(row["cif"])
print("wrote aspirin_rmd17.extxyz (80 frames) and perovskite_TlCoN2O.cif")
