"""mmpoly_geo: multimodal (1D P-SMILES + 3D) polymer property prediction on
PyTorch Geometric."""
__version__ = "0.1.0"


def predict(psmiles, model=None, properties=None, batch_size=64):
    """Predicts polymer properties; see :func:`mmpoly_geo.api.predict`."""
    from mmpoly_geo.api import predict as _predict
    return _predict(psmiles, model, properties, batch_size=batch_size)


def embed(psmiles, model=None, pretrained=None, batch_size=64):
    """Fused polymer vectors; see :func:`mmpoly_geo.api.embed`."""
    from mmpoly_geo.api import embed as _embed
    return _embed(psmiles, model, pretrained=pretrained,
                  batch_size=batch_size)
