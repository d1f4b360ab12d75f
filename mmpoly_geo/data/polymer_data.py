"""The PyG :class:`~torch_geometric.data.Data` subclass for one polymer."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_dense_batch


class PolymerData(Data):
    r"""A polymer: token sequence, atoms, bond graph, radius graph, conformers.

    Attributes (:obj:`N` atoms, :obj:`K` conformers, :obj:`L` tokens,
    :obj:`T` targets; all batch with PyG's
    :class:`~torch_geometric.loader.DataLoader` without extra arguments):

    - **tokens** (*LongTensor [L]*): ``[CLS] ... [EOS]`` ids of the canonical
      P-SMILES; concatenated in a batch, split again with
      :func:`to_dense_tokens`.
    - **num_tokens** (*LongTensor [1]*): :obj:`L`.
    - **x** (*LongTensor [N, 10]*): categorical atom features
      (:data:`~mmpoly_geo.chem.features.ATOM_FEATURES`; the last column flags
      the two former stars).
    - **z** (*LongTensor [N]*): atomic numbers after star substitution.
    - **is_star** (*BoolTensor [N]*): the two atoms that replaced the ``*``.
    - **unit** (*LongTensor [N]*): repeat unit of each atom (oligomers).
    - **pos** (*Tensor [N, 3]*): the active conformer (conformer 0 as
      stored; see :class:`~mmpoly_geo.data.transforms.SelectConformer`).
    - **pos_confs** (*Tensor [N, K, 3]*): all conformers, each centred.
    - **edge_index** / **edge_attr** (*[2, E]* / *[E, 4]*): bond graph with
      :data:`~mmpoly_geo.chem.features.BOND_FEATURES`.
    - **periodic_edge_index** / **periodic_edge_attr** (*[2, 2]* / *[2, 4]*,
      or empty): the bond closing the repeat unit into a ring (the atoms the
      two ``*`` were bonded to), both directions.
    - **descriptors** (*Tensor [1, D]*): whole-polymer descriptors
      (:obj:`D = 0` when switched off).
    - **radius_edge_index** (*LongTensor [2, E_r]*): atoms of :obj:`pos`
      closer than :obj:`radius_cutoff`.
    - **radius_cutoff** (*Tensor [1]*): that cutoff (Angstrom).
    - **conf_method** (*LongTensor [1]*): index in
      :data:`~mmpoly_geo.chem.conformers.CONFORMER_METHODS` of the method that
      produced the coordinates.
    - **conf_budget_exceeded** (*BoolTensor [1]*): the conformer embedding
      ran out of its time budget (fewer conformers, or a fallback).
    - **y** (*Tensor [1, T]*, optional): targets, ``NaN`` where missing.
    - **psmiles** (*str*): canonical P-SMILES; **key** (*str*): the
      :func:`~mmpoly_geo.chem.psmiles.polymer_key` (for grouped splits).
    """

    @property
    def num_conformers(self) -> int:
        """Number :obj:`K` of stored conformers."""
        return int(self.pos_confs.size(1))


def to_dense_tokens(data: Data, pad_id: int = 0) -> Tuple[Tensor, Tensor]:
    r"""Pads the concatenated token ids of a (batched) :class:`PolymerData`.

    Returns:
        (torch.Tensor, torch.Tensor): token ids :obj:`[B, L_max]` and the
        boolean mask of real tokens :obj:`[B, L_max]`.
    """
    num_tokens = data.num_tokens.view(-1)
    index = torch.repeat_interleave(
        torch.arange(num_tokens.numel(), device=num_tokens.device), num_tokens)
    return to_dense_batch(data.tokens, index, fill_value=pad_id,
                          batch_size=num_tokens.numel())


torch.serialization.add_safe_globals([PolymerData])
