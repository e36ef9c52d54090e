#!/usr/bin/python3
"""Generates showers with the native CLI for the browser's determinism test.

Writes an energies file (CaloChallenge HDF5 with zero showers), runs
`tdsm sample --model MODEL --energies FILE --seed S --sampler X --steps K --batch-size N --out F.h5`
with TDSM_DUMP_POINTS set (the CLI then also writes the batch's points before binning), and
writes JSON with, for each run (em 40 steps, pc 20 steps, ode 20 steps by default), the
settings, the points and the voxels of each shower.

Usage: expected-showers.py TDSM_BINARY MODEL_DIR OUT_JSON [--seed S] [--runs em:40,pc:20,ode:20]
"""
import argparse
import json
import os
import subprocess
import tempfile

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("tdsm")
ap.add_argument("model")
ap.add_argument("out")
ap.add_argument("--seed", type=int, default=11)
ap.add_argument("--runs", default="em:40,pc:20,ode:20")
a = ap.parse_args()

# at most 4 showers: the CLI dumps the points of the first 4 showers of its last batch
energies = [1024.0, 16384.0, 65536.0, 1048576.0]


def run(tmp, sampler, steps):
    """Points and voxels of the showers of one `tdsm sample` run."""
    efile = os.path.join(tmp, "energies.h5")
    with h5py.File(efile, "w") as f:
        f.create_dataset("incident_energies", data=np.array(energies, dtype=np.float64).reshape(-1, 1))
        f.create_dataset("showers", data=np.zeros((len(energies), 368), dtype=np.float32))
    out = os.path.join(tmp, f"{sampler}.h5")
    dump = os.path.join(tmp, f"{sampler}.json")
    env = dict(os.environ, TDSM_DUMP_POINTS=dump)
    subprocess.run([a.tdsm, "sample", "--model", a.model, "--energies", efile, "--seed", str(a.seed),
                    "--sampler", sampler, "--steps", str(steps), "--batch-size", str(len(energies)),
                    "--device", "cpu", "--out", out], check=True, env=env)
    with h5py.File(out, "r") as f:
        voxels = f["showers"][:]
        inc = f["incident_energies"][:].reshape(-1)
    with open(dump) as f:
        points = json.load(f)
    # the batch may be ordered by hit count: match the dumped showers by their (distinct) energies
    by_energy = {float(e): pts for e, pts in points}
    if sorted(by_energy) != sorted(energies):
        raise SystemExit(f"unexpected point dump: energies {sorted(by_energy)}")
    showers = [{"incidentEnergy": float(e), "total": float(v.sum()), "points": by_energy[float(e)], "voxels": [float(x) for x in v]}
               for e, v in zip(inc, voxels)]
    print(f"{sampler} {steps} steps: totals " + ", ".join(f"{s['total'] / s['incidentEnergy']:.4f}" for s in showers) + " x E_inc")
    return {"seed": a.seed, "sampler": sampler, "steps": steps, "energies": energies, "showers": showers}


with tempfile.TemporaryDirectory() as tmp:
    runs = [run(tmp, r.split(":")[0], int(r.split(":")[1])) for r in a.runs.split(",")]
with open(a.out, "w") as f:
    json.dump({"runs": runs}, f)
print(f"wrote {a.out}")
