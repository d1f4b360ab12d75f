"""mmpoly_geo: multimodal (1D P-SMILES + 3D) polymer property prediction on
PyTorch Geometric."""
__version__ = "0.1.0"
