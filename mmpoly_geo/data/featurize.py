"""P-SMILES string to :class:`~mmpoly_geo.data.PolymerData`: the whole chain
of validation, canonicalisation, oligomer, star substitution, conformers and
graphs."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from rdkit import Chem

from mmpoly_geo.chem.conformers import (
    CONFORMER_METHODS, TIME_BUDGET, generate_conformers)
from mmpoly_geo.chem.descriptors import DESCRIPTOR_SETS, descriptor_vector
from mmpoly_geo.chem.xtb import XTB_VERSION, require_xtb
from mmpoly_geo.chem.errors import StarSubstitutionError
from mmpoly_geo.chem.features import atom_features, bond_graph, bond_features
from mmpoly_geo.chem.oligomer import build_oligomer
from mmpoly_geo.chem.psmiles import (
    MAX_ATOMS, STAR_PROP, canonicalize_psmiles, parse_psmiles, polymer_key)
from mmpoly_geo.chem.star_substitution import (
    star_neighbours, star_substitution)
from mmpoly_geo.data.polymer_data import PolymerData
from mmpoly_geo.data.radius_graph import radius_graph
from mmpoly_geo.data.tokenizer import PSmilesTokenizer


STAR_MODES = ("substitute", "keep", "remove")

#: Bumped whenever the features or coordinates produced for the same input and
#: settings change, so that cached datasets are processed again.
FEATURIZER_VERSION = 4


@dataclass
class PolymerFeaturizer:
    r"""Turns P-SMILES strings into :class:`~mmpoly_geo.data.PolymerData`.

    Args:
        num_conformers (int): Conformers per polymer. (default: :obj:`5`)
        seed (int): Seed of the conformer embedding. (default: :obj:`0`)
        hydrogens (bool): Keep explicit hydrogens as atoms. (default:
            :obj:`False`, heavy atoms only, as MMPolymer's 3D branch sees them)
        mmff (bool): MMFF94-relax the conformers. (default: :obj:`False`)
        repeat_units (int): Build an oligomer of this many units for the 3D
            and graph inputs; tokens stay those of one unit. (default: :obj:`1`)
        cutoff (float): Radius-graph cutoff in Angstrom. (default: :obj:`5.0`)
        max_atoms (int): Largest accepted repeat unit (heavy atoms).
            (default: :obj:`1000`)
        vocab (str, optional): Vocabulary file. (default: the shipped one)
        stars (str): How the 3D/graph input treats the ``*``:
            ``"substitute"`` (MMPolymer's star substitution), ``"keep"``
            (atoms of atomic number 0 placed where the substituted atoms
            are, since RDKit cannot embed dummy atoms; not with
            :obj:`hydrogens`) or
            ``"remove"`` (deleted; their neighbours get a hydrogen) - the
            MMPolymer Table 4 ablation. (default: ``"substitute"``)
        descriptors (str): Whole-polymer descriptors stored as
            :obj:`descriptors` :math:`[1, D]`: ``"rdkit"`` (the RDKit 2D
            descriptors of the star-substituted repeat unit), ``"morgan"``
            (Morgan counts of the P-SMILES, radius 2, 2048 bits, as the
            random-forest baseline), ``"rdkit+morgan"`` or ``"none"``.
            ``NaN`` where RDKit cannot compute a value. (default:
            ``"rdkit+morgan"``)
        time_budget (float, optional): Seconds allowed for the conformer
            embedding of one polymer, after which the fallback chain goes on
            (see :func:`~mmpoly_geo.chem.conformers.generate_conformers`);
            :obj:`None` for no limit. (default: :obj:`10.0`)

    .. code-block:: python

        data = PolymerFeaturizer()("*CC(*)c1ccccc1", y=[1.0])
    """
    num_conformers: int = 5
    seed: int = 0
    hydrogens: bool = False
    mmff: bool = False
    repeat_units: int = 1
    cutoff: float = 5.0
    max_atoms: int = MAX_ATOMS
    vocab: Optional[str] = None
    stars: str = "substitute"
    descriptors: str = "rdkit+morgan"
    time_budget: Optional[float] = TIME_BUDGET

    def __post_init__(self):
        if self.time_budget is not None and not self.time_budget >= 1:
            raise ValueError(f"time_budget must be >= 1 s or None, got "
                             f"{self.time_budget}")
        if self.descriptors not in DESCRIPTOR_SETS:
            raise ValueError(f"descriptors must be one of {DESCRIPTOR_SETS}, "
                             f"got {self.descriptors!r}")
        if "xtb" in self.descriptors.split("+"):
            require_xtb()  # before any row, not once per row
        if self.stars not in STAR_MODES:
            raise ValueError(f"stars must be one of {STAR_MODES}, got "
                             f"{self.stars!r}")
        if self.stars == "keep" and self.hydrogens:
            raise ValueError("stars='keep' cannot be combined with "
                             "hydrogens=True (a star has no hydrogens)")
        self.tokenizer = PSmilesTokenizer(self.vocab)

    def config(self) -> dict:
        """The settings, plus the vocabulary hash (for cache keys)."""
        out = asdict(self)
        out["vocab"] = self.tokenizer.vocab_hash
        out["version"] = FEATURIZER_VERSION
        if "xtb" in self.descriptors.split("+"):
            out["xtb_version"] = XTB_VERSION
        return out

    def model_settings(self) -> dict:
        """The settings a saved model records to featurize new inputs as it
        was trained (without the vocabulary file: a path on the training
        machine)."""
        out = asdict(self)
        out.pop("vocab")
        return out

    def __getstate__(self):
        return asdict(self)

    def __setstate__(self, state):
        self.__init__(**state)

    def arrays(self, psmiles: str) -> Dict[str, object]:
        """The features as NumPy arrays and strings (picklable, used by worker
        processes). Raises :class:`~mmpoly_geo.chem.errors.PSmilesError`."""
        mol = parse_psmiles(psmiles, max_atoms=self.max_atoms)
        canonical = canonicalize_psmiles(mol)
        key = polymer_key(mol)
        # Work from the canonical string: one atom order per polymer, however
        # the input was written. Star records are set again by parse_psmiles.
        mol = parse_psmiles(canonical, max_atoms=self.max_atoms)
        params = Chem.RemoveHsParameters()
        params.removeIsotopes = True  # deuterium: implicit H in the 3D input
        params.removeDummyNeighbors = True
        mol = Chem.RemoveHs(mol, params)
        descriptors = self._descriptors(canonical, mol)
        mol, unit = build_oligomer(mol, self.repeat_units)
        s1, n1, s2, n2 = star_neighbours(mol)
        periodic = _periodic_bond(mol, s1, n1, n2)
        if self.stars == "remove":
            heavy, unit = _remove_stars(mol, unit)
            geometry = heavy
            # Atom indices after the stars are removed.
            periodic = (periodic[0] - (periodic[0] > s1) - (periodic[0] > s2),
                        periodic[1])
        else:
            geometry = star_substitution(mol)
            heavy = geometry if self.stars == "substitute" else mol
        confs = generate_conformers(geometry, self.num_conformers, self.seed,
                                    hydrogens=self.hydrogens, mmff=self.mmff,
                                    time_budget=self.time_budget)
        graph_mol = Chem.AddHs(heavy) if self.hydrogens else heavy
        n = graph_mol.GetNumAtoms()
        if n > heavy.GetNumAtoms():  # hydrogens belong to their heavy atom
            unit = np.concatenate([unit, [
                unit[a.GetNeighbors()[0].GetIdx()]
                for a in graph_mol.GetAtoms()
                if a.GetIdx() >= heavy.GetNumAtoms()]]).astype(np.int64)
        edge_index, edge_attr = bond_graph(graph_mol)
        x = atom_features(graph_mol)
        return dict(
            psmiles=canonical, key=key,
            tokens=self.tokenizer.encode(canonical).numpy(),
            x=x, z=x[:, 0].copy(), is_star=x[:, -1].astype(bool), unit=unit,
            pos_confs=confs.pos.transpose(1, 0, 2).copy(),
            edge_index=edge_index, edge_attr=edge_attr,
            periodic_edge_index=periodic[0], periodic_edge_attr=periodic[1],
            descriptors=descriptors,
            conf_method=CONFORMER_METHODS.index(confs.method),
            conf_budget_exceeded=confs.budget_exceeded,
        )

    def _descriptors(self, canonical: str, unit: Chem.Mol) -> np.ndarray:
        if self.descriptors == "none":
            return np.zeros(0, dtype=np.float32)
        try:
            capped = star_substitution(unit)
        except StarSubstitutionError:
            capped = _remove_stars(unit, np.zeros(unit.GetNumAtoms()))[0]
        return descriptor_vector(self.descriptors, Chem.MolFromSmiles(canonical),
                                 capped)

    def to_data(self, arrays: Dict[str, object],
                y: Optional[Sequence[float]] = None) -> PolymerData:
        """Builds the :class:`PolymerData` from :meth:`arrays`' output."""
        pos_confs = torch.from_numpy(arrays["pos_confs"])
        pos = pos_confs[:, 0].clone()
        data = PolymerData(
            tokens=torch.from_numpy(arrays["tokens"]),
            num_tokens=torch.tensor([len(arrays["tokens"])]),
            x=torch.from_numpy(arrays["x"]),
            z=torch.from_numpy(arrays["z"]),
            is_star=torch.from_numpy(arrays["is_star"]),
            unit=torch.from_numpy(arrays["unit"]),
            pos=pos, pos_confs=pos_confs,
            edge_index=torch.from_numpy(arrays["edge_index"]),
            edge_attr=torch.from_numpy(arrays["edge_attr"]),
            periodic_edge_index=torch.from_numpy(arrays["periodic_edge_index"]),
            periodic_edge_attr=torch.from_numpy(arrays["periodic_edge_attr"]),
            descriptors=torch.from_numpy(arrays["descriptors"]).view(1, -1),
            radius_edge_index=radius_graph(pos, self.cutoff),
            radius_cutoff=torch.tensor([float(self.cutoff)]),
            conf_method=torch.tensor([arrays["conf_method"]]),
            conf_budget_exceeded=torch.tensor(
                [bool(arrays["conf_budget_exceeded"])]),
            psmiles=arrays["psmiles"], key=arrays["key"],
        )
        if y is not None:
            data.y = torch.tensor(np.asarray(y, dtype=np.float32)).view(1, -1)
        return data

    def __call__(self, psmiles: str,
                 y: Optional[Sequence[float]] = None) -> PolymerData:
        return self.to_data(self.arrays(psmiles), y)


def _periodic_bond(mol: Chem.Mol, s1: int, n1: int, n2: int):
    """The bond that closes the repeat unit into a ring (the atoms bonded to
    the two stars, with the star bond's features), both directions:
    ``(edge_index [2, 2], edge_attr [2, 4])``. Two atoms bonded already
    (``*CC(*)C``) get a second, parallel edge, as in periodic polymer graphs;
    empty when both stars sit on one atom (no self-loops)."""
    if n1 == n2:
        return (np.zeros((2, 0), dtype=np.int64),
                np.zeros((0, len(bond_features(None))), dtype=np.int64))
    f = bond_features(mol.GetBondBetweenAtoms(s1, n1))
    return (np.array([[n1, n2], [n2, n1]], dtype=np.int64),
            np.array([f, f], dtype=np.int64))


def _remove_stars(mol: Chem.Mol, unit: np.ndarray):
    """Deletes the two star atoms (their neighbours get a hydrogen)."""
    stars = [a.GetIdx() for a in mol.GetAtoms() if a.HasProp(STAR_PROP)]
    rw = Chem.RWMol(mol)
    for idx in sorted(stars, reverse=True):
        rw.RemoveAtom(idx)
    out = rw.GetMol()
    Chem.SanitizeMol(out)
    return out, np.delete(unit, stars)
