"""Transforms choosing the conformer a model sees."""
from __future__ import annotations

from typing import List, Optional, Union

import torch
from torch_geometric.transforms import BaseTransform

from mmpoly_geo.data.polymer_data import PolymerData
from mmpoly_geo.data.radius_graph import radius_graph


class SelectConformer(BaseTransform):
    r"""Makes one stored conformer the active :obj:`pos` and recomputes
    :obj:`radius_edge_index` for it.

    Use :obj:`index="random"` in training (a new conformer each time a
    polymer is drawn; reproducible under :func:`torch.manual_seed`) and
    :func:`expand_conformers` at evaluation to average over all of them.

    Args:
        index (int or str, optional): Conformer index, or ``"random"``.
            (default: ``"random"``)
        cutoff (float, optional): Radius-graph cutoff; the one the data was
            processed with when :obj:`None`. (default: :obj:`None`)
        max_num_neighbors (int, optional): Neighbour cap of the radius graph.
            (default: :obj:`None`)
    """
    def __init__(self, index: Union[int, str] = "random",
                 cutoff: Optional[float] = None,
                 max_num_neighbors: Optional[int] = None):
        if not (index == "random" or isinstance(index, int)):
            raise ValueError(f"index must be an int or 'random', got {index!r}")
        self.index = index
        self.cutoff = cutoff
        self.max_num_neighbors = max_num_neighbors

    def forward(self, data: PolymerData) -> PolymerData:
        k = data.pos_confs.size(1)
        if self.index == "random":
            index = int(torch.randint(k, ()).item())
        else:
            if not -k <= self.index < k:
                raise IndexError(f"conformer {self.index} requested, but the "
                                 f"polymer has {k} conformers")
            index = self.index
        data = data.clone() if hasattr(data, "clone") else data
        data.pos = data.pos_confs[:, index].clone()
        cutoff = self.cutoff if self.cutoff is not None else float(
            data.radius_cutoff.view(-1)[0])
        data.radius_edge_index = radius_graph(
            data.pos, cutoff, max_num_neighbors=self.max_num_neighbors)
        data.radius_cutoff = torch.tensor([cutoff])
        return data

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(index={self.index!r}, "
                f"cutoff={self.cutoff})")


def expand_conformers(data: PolymerData,
                      cutoff: Optional[float] = None) -> List[PolymerData]:
    """Returns one copy of :obj:`data` per stored conformer (each with its own
    radius graph), for test-time averaging over conformers."""
    return [SelectConformer(k, cutoff)(data)
            for k in range(data.pos_confs.size(1))]


def use_conformer(batch, index, cutoff: Optional[float]):
    """Sets :obj:`batch.pos` to conformer :obj:`index` (an int, or a tensor
    with one index per graph) and recomputes the radius graph, in place
    (not when :obj:`cutoff` is :obj:`None`: the caller builds its own)."""
    if isinstance(index, int):
        pos = batch.pos_confs[:, index]
    else:
        pos = batch.pos_confs[torch.arange(batch.num_nodes,
                                           device=batch.pos.device),
                              index[batch.batch]]
    batch.pos = pos
    if cutoff is not None:
        batch.radius_edge_index = radius_graph(pos, cutoff, batch.batch)
    return batch
