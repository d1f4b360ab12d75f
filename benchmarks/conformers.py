"""Conformer throughput: the MMPolymer recipe vs mmpoly_geo's default.

Same 200 polymers (a fixed random sample of Egc), one process (= one core),
both recipes in this process, starting from the star-substituted molecule.

- MMPolymer recipe, re-implemented from its description: add hydrogens; for
  seeds 0-9 embed one conformer with ETKDG (v1 parameters, RDKit 2022's
  default) and MMFF94-relax it (200 iterations, non-convergence accepted); if
  an embedding fails, re-embed without hydrogens (5000 attempts), add
  hydrogens with coordinates and relax; an exception gives 2D coordinates;
  plus one RDKit 2D layout: 11 conformers.
- mmpoly_geo default: ``generate_conformers(mol, 5)``: 5 ETKDGv3 conformers of
  the heavy atoms, no force field, fallback retry from random coordinates,
  then 2D.

Usage::

    python benchmarks/conformers.py [--num 200] [--dataset Egc]
"""
import argparse
import time

import pandas as pd
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem, rdDistGeom

from mmpoly_geo.chem import generate_conformers, parse_psmiles, star_substitution
from mmpoly_geo.data import PolymerFeaturizer
from mmpoly_geo.data.shipped import shipped_files


def mmpolymer_recipe(mol):
    """Returns (number of 2D-fallback conformers, number of failed first
    embeddings) for one polymer; coordinates are computed and discarded."""
    mol_h = Chem.AddHs(mol)
    fallback_2d, failed_first = 0, 0
    for seed in range(10):
        try:
            params = rdDistGeom.ETKDG()
            params.randomSeed = seed
            if rdDistGeom.EmbedMolecule(mol_h, params) == 0:
                AllChem.MMFFOptimizeMolecule(mol_h, maxIters=200)
            else:
                failed_first += 1
                heavy = Chem.Mol(mol)
                if AllChem.EmbedMolecule(heavy, maxAttempts=5000,
                                         randomSeed=seed) != 0:
                    raise RuntimeError("embedding failed")
                mol_h = Chem.AddHs(heavy, addCoords=True)
                AllChem.MMFFOptimizeMolecule(mol_h, maxIters=200)
        except Exception:
            fallback_2d += 1
            AllChem.Compute2DCoords(mol_h)
    AllChem.Compute2DCoords(Chem.Mol(mol_h))
    return fallback_2d, failed_first


def default_recipe(mol):
    res = generate_conformers(mol, 5, seed=0)
    return int(res.method == "2d"), int(res.method != "etkdg")


def run(name, fn, mols):
    start = time.perf_counter()
    fallback = failed = 0
    for mol in mols:
        a, b = fn(mol)
        fallback += a > 0
        failed += b > 0
    seconds = time.perf_counter() - start
    return dict(recipe=name, seconds=seconds, per_polymer_ms=1e3 * seconds / len(mols),
                polymers_per_s_per_core=len(mols) / seconds,
                first_try_failed=failed / len(mols),
                used_2d=fallback / len(mols))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--dataset", default="Egc")
    args = parser.parse_args()
    blocker = rdBase.BlockLogs()  # noqa: F841
    frame = pd.read_csv(shipped_files(args.dataset)[0])
    sample = frame.psmiles.sample(args.num, random_state=0).tolist()
    mols = [star_substitution(parse_psmiles(s)) for s in sample]

    rows = [run("MMPolymer (10 ETKDG+MMFF with H, + 2D)", mmpolymer_recipe, mols),
            run("mmpoly_geo default (5 ETKDGv3, heavy atoms)", default_recipe, mols)]
    featurizer = PolymerFeaturizer()
    start = time.perf_counter()
    for s in sample:
        featurizer.arrays(s)
    full = (time.perf_counter() - start) / len(sample)

    table = pd.DataFrame(rows).set_index("recipe")
    with pd.option_context("display.width", 200, "display.precision", 3):
        print(f"{args.num} polymers of {args.dataset}, one core\n")
        print(table.to_string())
    ratio = rows[0]["seconds"] / rows[1]["seconds"]
    print(f"\nspeed-up of the default recipe per polymer: {ratio:.1f}x")
    print(f"full default featurisation (validation, canonical form, key, "
          f"tokens, conformers, graphs): {1e3 * full:.1f} ms/polymer "
          f"({1 / full:.0f} polymers/s/core)")


if __name__ == "__main__":
    main()
