"""GNN baselines from PyG with the same interface as
:class:`~mmpoly_geo.models.MMPolymer` (``forward(data)["pred"]``,
``mode``, ``config()``), for the benchmark suite."""
from __future__ import annotations

import copy
from typing import Any, Dict

import torch
from torch import Tensor
from torch_geometric.nn.models import SchNet, ViSNet
from torch_geometric.nn.models.visnet import Distance

from mmpoly_geo.data.radius_graph import radius_graph
from mmpoly_geo.nn import BondGraphEncoder, PropertyHead


class _Baseline(torch.nn.Module):
    kind = ""
    mode = "3d"

    def __init__(self, **config):
        super().__init__()
        self._config = dict(config)

    def config(self) -> Dict[str, Any]:
        return dict(copy.deepcopy(self._config), kind=self.kind)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._config})"


class GINBaseline(_Baseline):
    """:class:`~mmpoly_geo.nn.BondGraphEncoder` (PyG GIN on the bond graph,
    categorical atom features embedded, sum pooling) and an MLP head; no 3D."""
    kind, mode = "gin", "2d"

    def __init__(self, num_targets: int = 1, hidden_channels: int = 128,
                 num_layers: int = 4, dropout: float = 0.1):
        super().__init__(num_targets=num_targets,
                         hidden_channels=hidden_channels,
                         num_layers=num_layers, dropout=dropout)
        self.encoder = BondGraphEncoder(hidden_channels, num_layers, dropout)
        self.head = PropertyHead(hidden_channels, num_targets, dropout=dropout)

    def forward(self, data) -> Dict[str, Tensor]:
        _, fused = self.encoder(data.x, data.edge_index, data.batch,
                                data.num_graphs)
        return {"fused": fused, "pred": self.head(fused)}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Fold models saved before the GIN became a BondGraphEncoder (commit
        # b19b0b1) hold the same layers at the top level: resuming such a
        # run would otherwise fail on its finished folds.
        for old in ("atom_encoder.", "gnn."):
            for key in [k for k in state_dict if k.startswith(prefix + old)]:
                state_dict[prefix + "encoder." + key[len(prefix):]] = \
                    state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class _RadiusInteractionGraph(torch.nn.Module):
    """SchNet's ``interaction_graph`` from our radius graph (no pyg-lib)."""
    def __init__(self, cutoff: float):
        super().__init__()
        self.cutoff = cutoff

    def forward(self, pos: Tensor, batch: Tensor):
        edge_index = radius_graph(pos, self.cutoff, batch)
        return edge_index, (pos[edge_index[0]] - pos[edge_index[1]]).norm(dim=-1)


class SchNetBaseline(_Baseline):
    """PyG :class:`~torch_geometric.nn.models.SchNet` on atomic numbers and
    coordinates, with our radius graph as ``interaction_graph``."""
    kind = "schnet"

    def __init__(self, num_targets: int = 1, hidden_channels: int = 128,
                 num_interactions: int = 4, cutoff: float = 5.0):
        super().__init__(num_targets=num_targets,
                         hidden_channels=hidden_channels,
                         num_interactions=num_interactions, cutoff=cutoff)
        self.schnet = SchNet(hidden_channels=hidden_channels,
                             num_filters=hidden_channels,
                             num_interactions=num_interactions, cutoff=cutoff,
                             interaction_graph=_RadiusInteractionGraph(cutoff))
        # SchNet ends in one output; one SchNet per extra target would be
        # wasteful, so targets share it through a linear map.
        self.out = torch.nn.Linear(1, num_targets)

    def forward(self, data) -> Dict[str, Tensor]:
        y = self.schnet(data.z, data.pos, data.batch)
        return {"fused": y, "pred": self.out(y)}


class _RadiusDistance(Distance):
    """ViSNet's neighbour search through our radius graph (no pyg-lib)."""
    def forward(self, pos: Tensor, batch: Tensor):
        edge_index = radius_graph(pos, self.cutoff, batch,
                                  loop=self.add_self_loops,
                                  max_num_neighbors=self.max_num_neighbors)
        edge_vec = pos[edge_index[0]] - pos[edge_index[1]]
        mask = edge_index[0] != edge_index[1]
        edge_weight = torch.zeros(edge_vec.size(0), device=edge_vec.device,
                                  dtype=edge_vec.dtype)
        edge_weight[mask] = torch.norm(edge_vec[mask], dim=-1)
        return edge_index, edge_weight, edge_vec


class ViSNetBaseline(_Baseline):
    """PyG :class:`~torch_geometric.nn.models.ViSNet` (equivariant), with its
    neighbour search replaced by our radius graph."""
    kind = "visnet"

    def __init__(self, num_targets: int = 1, hidden_channels: int = 64,
                 num_layers: int = 3, num_heads: int = 4, cutoff: float = 5.0):
        super().__init__(num_targets=num_targets,
                         hidden_channels=hidden_channels,
                         num_layers=num_layers, num_heads=num_heads,
                         cutoff=cutoff)
        self.visnet = ViSNet(hidden_channels=hidden_channels,
                             num_layers=num_layers, num_heads=num_heads,
                             cutoff=cutoff, max_z=119)
        block = self.visnet.representation_model
        block.distance = _RadiusDistance(cutoff, block.distance.max_num_neighbors,
                                         block.distance.add_self_loops)
        self.out = torch.nn.Linear(1, num_targets)

    def forward(self, data) -> Dict[str, Tensor]:
        y, _ = self.visnet(data.z, data.pos, data.batch)
        return {"fused": y, "pred": self.out(y)}


BASELINES = {cls.kind: cls for cls in (GINBaseline, SchNetBaseline,
                                       ViSNetBaseline)}


def build_model(config: Dict[str, Any]) -> torch.nn.Module:
    """Builds :class:`MMPolymer` or a baseline from a configuration dict.

    ``kind`` (default ``"mmpolymer"``) picks the class; the keys that class
    accepts are used (for baselines also those in ``baseline_kwargs``), so one
    ``model`` section of a run configuration serves every kind.
    """
    import inspect

    from mmpoly_geo.models.mmpolymer import MMPolymer

    kind = config.get("kind", "mmpolymer")
    if kind == "mmpolymer":
        cls, kwargs = MMPolymer, {}
    elif kind in BASELINES:
        cls, kwargs = BASELINES[kind], dict(config.get("baseline_kwargs") or {})
    else:
        raise ValueError(f"unknown model kind {kind!r}; known: "
                         f"{['mmpolymer'] + sorted(BASELINES)}")
    accepted = inspect.signature(cls.__init__).parameters
    kwargs.update({k: v for k, v in config.items() if k in accepted})
    return cls(**kwargs)
