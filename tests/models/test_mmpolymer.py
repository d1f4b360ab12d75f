import pytest
import torch

from mmpoly_geo.models import MMPolymer

SMALL = dict(sequence_kwargs=dict(hidden_channels=16, num_layers=1,
                                  num_heads=2),
             fusion_channels=16)
ENC = {
    "equivariant": dict(hidden_channels=16, vector_channels=4, lmax=1,
                        num_layers=1, cutoff=4.0),
    "painn": dict(hidden_channels=16, num_layers=1, cutoff=4.0),
    "dense": dict(hidden_channels=16, num_layers=1, num_heads=2,
                  num_kernels=8),
}


@pytest.mark.parametrize("encoder", sorted(ENC))
def test_modes_save_load(encoder, batch, tmp_path):
    torch.manual_seed(0)
    model = MMPolymer(num_targets=1, encoder_3d=encoder,
                      encoder_3d_kwargs=ENC[encoder], **SMALL).eval()
    out = model(batch)
    assert out["pred"].shape == (batch.num_graphs, 1)
    assert out["vectors"].shape == (batch.num_nodes, 3)
    # Single-modality use of the same (jointly built) model.
    one = model(batch, mode="1d")
    assert "pooled_3d" not in one and one["pred"].shape == (4, 1)
    three = model(batch, mode="3d")
    assert "pooled_1d" not in three and three["pred"].shape == (4, 1)
    path = tmp_path / "m.pt"
    model.mode = "3d"
    model.save(path)
    loaded = MMPolymer.load(path).eval()
    assert loaded.mode == "3d" and loaded.config() == model.config()
    torch.testing.assert_close(loaded(batch)["pred"], model(batch)["pred"])
    assert f"encoder_3d='{encoder}'" in repr(model)


def test_gradients_reach_property_path(batch):
    torch.manual_seed(0)
    model = MMPolymer(encoder_3d_kwargs=ENC["equivariant"], **SMALL)
    out = model(batch)
    model.property_head.loss(out["pred"], batch.y).backward()
    for name, p in model.named_parameters():
        if name.split(".")[0] in ("token_head", "atom_type_head",
                                  "denoising_head", "contrastive"):
            continue  # pretraining heads are not on the property path
        if "embedding" in name or "atom_encoder" in name:
            continue  # rows of absent tokens / elements
        if "vector_out" in name:
            continue  # equivariant vectors feed the denoising head only
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="encoder_3d"):
        MMPolymer(encoder_3d="unimol")
    model = MMPolymer(encoder_3d_kwargs=ENC["painn"], encoder_3d="painn",
                      **SMALL)
    with pytest.raises(ValueError, match="mode"):
        model.mode = "2d"
    with pytest.raises(FileNotFoundError):
        MMPolymer.load(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        MMPolymer.load(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, other)
    with pytest.raises(ValueError, match="not an MMPolymer checkpoint"):
        MMPolymer.load(other)


def test_reset_parameters_changes_weights():
    torch.manual_seed(0)
    model = MMPolymer(encoder_3d_kwargs=ENC["equivariant"], **SMALL)
    before = model.property_head.mlp[1].weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.property_head.mlp[1].weight)


def _descriptor_model(**kw):
    return MMPolymer(encoder_3d_kwargs=ENC["equivariant"], **SMALL, **kw)


def test_concat_fusion_with_descriptors_serves_every_mode(batch, tmp_path):
    torch.manual_seed(0)
    d = batch.descriptors.size(1)
    model = _descriptor_model(num_descriptors=d,
                              descriptor_kwargs={"count_std_floor": 0.5})
    model.descriptor_encoder.fit(batch.descriptors)
    d_ = batch.descriptors
    counts = ((d_ == d_.round()) | d_.isnan()).all(0)
    assert counts.any() and not counts.all()
    assert model.descriptor_encoder.scaler.std[counts].min() >= 0.5
    model.eval()
    widths = {m: model(batch, mode=m)["fused"].shape for m in
              ("1d", "3d", "both")}
    assert set(widths.values()) == {(4, 3 * 16)}
    # The 3D block is zero in 1D mode, the 1D block in 3D mode.
    assert model(batch, mode="1d")["fused"][:, 16:32].abs().sum() == 0
    assert model(batch, mode="3d")["fused"][:, :16].abs().sum() == 0
    path = tmp_path / "m.pt"
    model.save(path)
    loaded = MMPolymer.load(path).eval()  # descriptor scales travel along
    torch.testing.assert_close(loaded(batch)["pred"], model(batch)["pred"])
    without = batch.clone()
    del without.descriptors
    with pytest.raises(ValueError, match="descriptors"):
        model(without)


def test_bonds_and_periodic_change_the_3d_input(batch):
    torch.manual_seed(0)
    plain = _descriptor_model(bonds=False).eval()
    assert plain.encoder_3d.num_edge_types == 0
    torch.manual_seed(0)
    periodic = _descriptor_model(periodic=True).eval()
    torch.manual_seed(0)
    bonded = _descriptor_model().eval()
    bonded.load_state_dict(periodic.state_dict())
    # Same weights; only the periodic closure edges differ.
    assert not torch.allclose(periodic(batch, mode="3d")["pred"],
                              bonded(batch, mode="3d")["pred"])
    with pytest.raises(ValueError, match="bonds"):
        MMPolymer(encoder_3d="painn", bonds=True)
    with pytest.raises(ValueError, match="periodic"):
        MMPolymer(bonds=False, periodic=True)


def test_bond_graph_branch_joins_every_mode(batch, tmp_path):
    torch.manual_seed(0)
    model = _descriptor_model(encoder_2d="gin",
                              encoder_2d_kwargs=dict(hidden_channels=8,
                                                     num_layers=2)).eval()
    # 1D, 3D and 2D blocks; the 2D block (third) is filled in every mode.
    for mode in ("1d", "3d", "both"):
        fused = model(batch, mode=mode)["fused"]
        assert fused.shape == (4, 3 * 16)
        assert fused[:, 32:].abs().sum() > 0
    path = tmp_path / "m.pt"
    model.save(path)
    loaded = MMPolymer.load(path).eval()
    assert loaded.config()["encoder_2d_kwargs"]["num_layers"] == 2
    torch.testing.assert_close(loaded(batch)["pred"], model(batch)["pred"])
    # Trained with the rest: gradients reach the GIN.
    model.train()
    model.property_head.loss(model(batch)["pred"], batch.y).backward()
    first = next(model.encoder_2d.gnn.convs[0].parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0
    # The periodic bond reaches the 2D graph too.
    torch.manual_seed(0)
    periodic = _descriptor_model(encoder_2d="gin", periodic=True).eval()
    plain = _descriptor_model(encoder_2d="gin").eval()
    plain.load_state_dict(periodic.state_dict())
    assert not torch.allclose(periodic(batch, mode="1d")["pred"],
                              plain(batch, mode="1d")["pred"])
    # mode="2d": the 2D branch alone (1D and 3D blocks zero).
    alone = model.eval()(batch, mode="2d")
    assert "pooled_1d" not in alone and "pooled_3d" not in alone
    assert alone["fused"][:, :32].abs().sum() == 0
    assert MMPolymer.load(path).config()["mode"] == "both"
    two = MMPolymer(mode="2d", encoder_2d="gin", **SMALL)
    assert two.mode == "2d" and two(batch)["pred"].shape == (4, 1)
    with pytest.raises(ValueError, match="encoder_2d"):
        MMPolymer(encoder_2d="gcn")
    with pytest.raises(ValueError, match="2D branch"):
        MMPolymer(mode="2d")
    with pytest.raises(ValueError, match="2D branch"):
        _descriptor_model()(batch, mode="2d")


def test_bond_graph_branch_reads_bond_features(batch, tmp_path):
    from mmpoly_geo.nn import BondGraphEncoder

    torch.manual_seed(0)
    encoder = BondGraphEncoder(8, 2, bond_features=True).eval()
    node, pooled = encoder(batch.x, batch.edge_index, batch.batch,
                           batch.num_graphs, edge_attr=batch.edge_attr)
    assert node.shape == (batch.num_nodes, 8) and pooled.shape == (4, 8)
    # The same graph with every bond made single reads differently.
    single = batch.edge_attr.clone()
    single[:, 0] = 0
    assert (batch.edge_attr[:, 0] != 0).any()
    assert not torch.allclose(
        pooled, encoder(batch.x, batch.edge_index, batch.batch,
                        batch.num_graphs, edge_attr=single)[1])
    with pytest.raises(ValueError, match="needs edge_attr"):
        encoder(batch.x, batch.edge_index, batch.batch, batch.num_graphs)
    # The plain GIN has no bond weights and ignores edge_attr.
    assert not any("bond" in k for k in BondGraphEncoder(8, 2).state_dict())
    # Through the model, periodic closure bonds included; saved and loaded.
    model = MMPolymer(mode="2d", encoder_2d="gin", periodic=True,
                      encoder_2d_kwargs=dict(hidden_channels=8, num_layers=2,
                                             bond_features=True),
                      **SMALL).eval()
    path = tmp_path / "m.pt"
    model.save(path)
    torch.testing.assert_close(MMPolymer.load(path).eval()(batch)["pred"],
                               model(batch)["pred"])
    model.train()
    model.property_head.loss(model(batch)["pred"], batch.y).backward()
    bond_weight = model.encoder_2d.bond_encoder.embeddings[0].weight
    assert bond_weight.grad is not None and bond_weight.grad.abs().sum() > 0


def test_cutoff_mismatch_is_rejected(batch):
    model = MMPolymer(encoder_3d_kwargs=dict(ENC["equivariant"], cutoff=5.0),
                      **SMALL)
    with pytest.raises(ValueError, match="cutoff 4 A"):
        model(batch)  # the batch's radius graph was built at 4 A
    assert model(batch, mode="1d")["pred"].shape == (4, 1)


def test_gin_baseline_loads_weights_of_its_earlier_layout(batch):
    from mmpoly_geo.models.baselines import GINBaseline

    torch.manual_seed(0)
    model = GINBaseline(hidden_channels=16, num_layers=2).eval()
    # Before the BondGraphEncoder refactor its layers sat at the top level.
    old = {k.removeprefix("encoder."): v for k, v in model.state_dict().items()}
    assert any(k.startswith("gnn.") for k in old)
    fresh = GINBaseline(hidden_channels=16, num_layers=2).eval()
    fresh.load_state_dict(old, strict=True)  # raises on any mismatch
    with torch.no_grad():
        assert torch.equal(fresh(batch)["pred"], model(batch)["pred"])


def test_fold_files_leave_out_what_the_mode_never_calls(batch, tmp_path):
    from mmpoly_geo.models.predictor import load_weights, save_fold_model

    torch.manual_seed(0)
    model = MMPolymer(mode="2d", encoder_2d="gin", **SMALL).eval()
    assert model.unused_modules == (
        "sequence_encoder", "fusion.projections.1d", "encoder_3d",
        "fusion.projections.3d")
    assert MMPolymer(**SMALL).unused_modules == ()
    path = tmp_path / "fold.pt"
    save_fold_model(path, model, [0.0], [1.0], ["value"], {}, half=True)
    state = torch.load(path, weights_only=True)["state_dict"]
    assert not any(k.startswith(("sequence_encoder.", "encoder_3d.",
                                 "fusion.projections.1d.")) for k in state)
    assert any(k.startswith("encoder_2d.") for k in state)
    assert any(k.startswith("fusion.projections.2d.") for k in state)
    # Another initialisation of the unused modules: the same predictions.
    torch.manual_seed(1)
    fresh = MMPolymer(mode="2d", encoder_2d="gin", **SMALL).eval()
    load_weights(fresh, state)
    torch.testing.assert_close(fresh(batch)["pred"], model(batch)["pred"],
                               rtol=1e-2, atol=1e-3)  # float16 weights
    # A module the mode calls may not be missing.
    both = MMPolymer(encoder_2d="gin", **SMALL)
    with pytest.raises(ValueError, match="missing.*sequence_encoder"):
        load_weights(both, state)


def test_prediction_models_skip_the_encoders_their_mode_never_calls(
        batch, tmp_path):
    from mmpoly_geo.models.predictor import load_fold_model, save_fold_model

    torch.manual_seed(0)
    model = MMPolymer(mode="2d", encoder_2d="gin", **SMALL).eval()
    path = tmp_path / "fold.pt"
    save_fold_model(path, model, [0.0], [1.0], ["value"], {})
    templates = {}
    loaded = load_fold_model(path, templates)["model"]
    template = next(iter(templates.values()))
    assert template.encoder_3d is None and template.sequence_encoder is None
    assert template.config() == model.config()
    torch.testing.assert_close(loaded(batch)["pred"], model(batch)["pred"])
    with pytest.raises(ValueError, match="needs encoder_3d.*build_unused"):
        template.mode = "3d"
    # A file written before fold files left them out holds them all.
    blob = torch.load(path, weights_only=True)
    blob["state_dict"] = model.state_dict()
    torch.save(blob, tmp_path / "older.pt")
    older = load_fold_model(tmp_path / "older.pt", {})["model"]
    torch.testing.assert_close(older(batch)["pred"], model(batch)["pred"])
    # A 1D model keeps its sequence encoder and drops the 3D one.
    one = MMPolymer(mode="1d", build_unused=False, **SMALL).eval()
    assert one.encoder_3d is None and one.sequence_encoder is not None
    assert one(batch)["pred"].shape == (4, 1)
