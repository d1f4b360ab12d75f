"""Composable layers (plain ``torch.nn.Module``s taking tensors and PyG
batches): encoders for the token sequence and the 3D structure, and heads."""
from mmpoly_geo.nn.atom_encoder import AtomEncoder
from mmpoly_geo.nn.bond_graph_encoder import BondGraphEncoder
from mmpoly_geo.nn.dense_pair_encoder import DensePairEncoder
from mmpoly_geo.nn.descriptor_encoder import DescriptorEncoder, DescriptorScaler
from mmpoly_geo.nn.encoder_output import EncoderOutput
from mmpoly_geo.nn.equivariant_encoder import (
    EquivariantEncoder, EquivariantInteraction)
from mmpoly_geo.nn.heads import (
    IGNORE_INDEX, AtomEnvironmentHead, AtomTypeHead, ContrastiveAlignment,
    CoordinateDenoisingHead, MaskedTokenHead, PropertyHead)
from mmpoly_geo.nn.fusion import ModalityFusion
from mmpoly_geo.nn.painn_encoder import PaiNNEncoder
from mmpoly_geo.nn.pooling import GraphPooling
from mmpoly_geo.nn.sequence_encoder import SequenceEncoder
from mmpoly_geo.nn.typed_edges import NUM_EDGE_TYPES, typed_edges

__all__ = [
    "AtomEncoder", "AtomEnvironmentHead", "AtomTypeHead", "BondGraphEncoder",
    "ContrastiveAlignment",
    "CoordinateDenoisingHead", "DensePairEncoder", "DescriptorEncoder",
    "DescriptorScaler", "EncoderOutput", "EquivariantEncoder",
    "EquivariantInteraction",
    "GraphPooling", "IGNORE_INDEX", "MaskedTokenHead", "ModalityFusion",
    "NUM_EDGE_TYPES", "PaiNNEncoder", "PropertyHead", "SequenceEncoder",
    "typed_edges",
]
