"""Regenerate the rMD17 npz slices and their numpy reference values.

Run from this folder:  python3 make_rmd17_slice.py   (numpy 2.x; reads ../../../../shared/data
or $SHARED_DATA). Takes the first 5 frames of rmd17_ethanol_test_01.npz, keeps every key, and
writes them stored (np.savez) and deflated (np.savez_compressed), plus the values numpy reads
back into rmd17_ethanol_first5.expect.json for the Rust tests to compare against.
"""
import json
import os

import numpy as np

shared = os.environ.get("SHARED_DATA", "../../../../shared/data")
src = np.load(os.path.join(shared, "rmd17", "rmd17_ethanol_test_01.npz"))
cut = {k: (src[k] if k == "nuclear_charges" else src[k][:5]) for k in src.files}
np.savez("rmd17_ethanol_first5.npz", **cut)
np.savez_compressed("rmd17_ethanol_first5_deflate.npz", **cut)
back = np.load("rmd17_ethanol_first5.npz")
expect = {
    "source": "rmd17/rmd17_ethanol_test_01.npz, frames 0..5",
    "numpy": np.__version__,
    "keys": sorted(back.files),
    "dtypes": {k: back[k].dtype.str for k in back.files},
    "shapes": {k: list(back[k].shape) for k in back.files},
    "nuclear_charges": back["nuclear_charges"].tolist(),
    "energies": back["energies"].tolist(),
    "old_indices": back["old_indices"].tolist(),
    "coords": back["coords"].tolist(),
    "forces": back["forces"].tolist(),
}
with open("rmd17_ethanol_first5.expect.json", "w") as f:
    json.dump(expect, f, indent=1)
print("wrote", sorted(back.files))
