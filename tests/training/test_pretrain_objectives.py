"""The pretraining objectives teach what they claim: no answer leaks through
the masked atoms, the denoising head starts at "no change", contrastive
alignment trains the fusion projections, validation is comparable across
epochs and the best epoch is what is saved; the 2D branch can be pretrained
instead."""
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem
from torch_geometric.loader import DataLoader

from mmpoly_geo.chem import (
    canonicalize_psmiles, parse_psmiles, polymer_key, star_substitution)
from mmpoly_geo.chem.features import (
    _BOND_TYPE, atom_features, masked_atom_features)
from mmpoly_geo.data import PolymerFeaturizer
from mmpoly_geo.data.shipped import shipped_files
from mmpoly_geo.models import MMPolymer
from mmpoly_geo.training import load_config
from mmpoly_geo.nn import IGNORE_INDEX, AtomEnvironmentHead
from mmpoly_geo.training.pretrain import (
    ENVIRONMENT_ELEMENTS, ENVIRONMENT_SLOTS, PretrainModule,
    atom_environments, excluded_keys, mask_atoms, run_pretrain)

TINY = dict(kind="mmpolymer", fusion_channels=8,
            sequence_kwargs=dict(hidden_channels=8, num_layers=1, num_heads=2),
            encoder_3d_kwargs=dict(hidden_channels=8, vector_channels=2,
                                   num_layers=1, cutoff=4.0))
POLYMERS = ["*CC(*)c1ccccc1", "*Oc1ccc(CC(*)=O)cc1", "*CC(*)C(=O)OC",
            "*[Si](C)(C)O*", "*CC(*)C#N", "*Nc1ccc(N*)cc1"]


def _batch():
    f = PolymerFeaturizer(num_conformers=2, cutoff=4.0, descriptors="none")
    return next(iter(DataLoader([f(s) for s in POLYMERS],
                                batch_size=len(POLYMERS))))


def test_masked_atoms_carry_no_information():
    real = []
    for s in pd.read_csv(shipped_files("Eea")[0])["psmiles"]:
        mol = star_substitution(Chem.RemoveHs(parse_psmiles(s)))
        real.append(atom_features(mol))
    real = torch.as_tensor(np.concatenate(real))
    masked = torch.as_tensor(masked_atom_features())
    assert not (real == masked).all(1).any()  # never a real atom's row
    x = real[:50]
    chosen = torch.arange(50) % 3 == 0
    out = mask_atoms(x, chosen)
    assert (out[chosen] == masked).all()  # every masked atom looks the same
    assert torch.equal(out[~chosen], x[~chosen])
    assert torch.equal(x, real[:50])  # the input is not modified


def test_untrained_denoising_predicts_the_noised_input():
    torch.manual_seed(0)
    module = PretrainModule(TINY, token_weight=0, atom_weight=0,
                            contrastive_weight=0, cutoff=4.0)
    module.eval()
    batch = _batch()
    losses = module._losses(batch, 0, 0)
    # Noise of at most 1 A per axis: the no-change loss is at most 1.5 per
    # atom (smooth-L1 summed over xyz), far below the 6-8 of the old head.
    assert 0 < losses["coord"].item() <= 1.5


def test_contrastive_trains_the_fusion_projections():
    torch.manual_seed(0)
    module = PretrainModule(TINY, token_weight=0, coord_weight=0,
                            atom_weight=0, cutoff=4.0)
    module._losses(_batch(), 0, 0)["loss"].backward()
    for name in ("1d", "3d"):
        grads = [p.grad for p in module.model.fusion.projections[name]
                 .parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), name


def test_validation_is_comparable_and_best_epoch_saved(tiny_config, tiny_csv,
                                                       tmp_path):
    # Learning rate 0: the weights never change, so a validation loss that
    # differs between epochs could only come from re-drawn masks and noise.
    config = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "pretrain.lr=0", "pretrain.max_epochs=3",
        "optim.max_epochs=7"])
    path = run_pretrain(config, tmp_path / "p")
    log = pd.read_csv(tmp_path / "p" / "logs" / "metrics.csv")
    val = log["val_loss"].dropna()
    assert len(val) == 3  # pretrain.max_epochs, not optim.max_epochs
    assert val.nunique() == 1
    best = torch.load(tmp_path / "p" / "best.ckpt", map_location="cpu",
                      weights_only=False)["state_dict"]
    saved = MMPolymer.load(path).state_dict()
    assert all(torch.equal(best["model." + k], v) for k, v in saved.items())


def test_descriptor_regression_objective(tiny_config, tiny_csv, tmp_path):
    f = PolymerFeaturizer(num_conformers=2, cutoff=4.0, descriptors="rdkit")
    batch = next(iter(DataLoader([f(s) for s in POLYMERS],
                                 batch_size=len(POLYMERS))))
    torch.manual_seed(0)
    width = batch.descriptors.size(1)
    module = PretrainModule(TINY, token_weight=0, coord_weight=0,
                            atom_weight=0, contrastive_weight=0, cutoff=4.0,
                            descriptor_weight=1.0, num_descriptors=width)
    module.descriptor_scaler.fit(batch.descriptors)
    losses = module._losses(batch, 0, 0)
    assert set(losses) == {"descriptor", "loss"}
    assert torch.isfinite(losses["loss"])
    losses["loss"].backward()
    for name in ("1d", "3d"):  # both branches learn to predict descriptors
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in
                   module.model.fusion.projections[name].parameters()), name
    # The run: descriptors are targets, never an input of the saved model.
    config = load_config(tiny_config, [f"data.csv={tiny_csv}",
                                       "pretrain.descriptor_weight=1",
                                       "pretrain.max_epochs=1"])
    path = run_pretrain(config, tmp_path / "p")
    log = pd.read_csv(tmp_path / "p" / "logs" / "metrics.csv")
    assert log["train_descriptor"].notna().any()
    model = MMPolymer.load(path)
    assert model.descriptor_encoder is None
    assert not any(k.startswith("descriptor") for k in model.state_dict())


GIN = dict(TINY, encoder_2d="gin",
           encoder_2d_kwargs=dict(hidden_channels=8, num_layers=2))


def test_atom_environments_count_neighbours_by_element_and_bond():
    f = PolymerFeaturizer(num_conformers=1, cutoff=4.0, descriptors="none")
    for s in POLYMERS + ["*C(F)(Cl)C(*)Br", "*SC(=S)N(*)P"]:
        data = f(s)
        got = atom_environments(data.z, data.edge_index, data.edge_attr[:, 0])
        assert got.shape == (data.num_nodes, ENVIRONMENT_SLOTS)
        # Reference: RDKit's own neighbour lists of the same graph (the
        # featurizer works in the canonical string's atom order).
        mol = star_substitution(Chem.RemoveHs(parse_psmiles(
            canonicalize_psmiles(parse_psmiles(s)))))
        assert [a.GetAtomicNum() for a in mol.GetAtoms()] == data.z.tolist()
        want = torch.zeros_like(got)
        elements = list(ENVIRONMENT_ELEMENTS)
        for atom in mol.GetAtoms():
            for bond in atom.GetBonds():
                z = bond.GetOtherAtom(atom).GetAtomicNum()
                element = elements.index(z) if z in elements else len(elements)
                slot = element * (len(_BOND_TYPE) + 1) + _BOND_TYPE.index(
                    bond.GetBondType())
                want[atom.GetIdx(), slot] += 1
        assert torch.equal(got, want.clamp(max=3)), s
    # Carbonyl carbon of the methacrylate ester: C-C, C=O, C-O.
    data = f("*CC(*)C(=O)OC")
    env = atom_environments(data.z, data.edge_index, data.edge_attr[:, 0])
    carbonyl = [i for i in range(data.num_nodes) if env[i].sum() == 3
                and data.z[i] == 6 and env[i].max() == 1]
    assert len(carbonyl) == 1 and env[carbonyl[0]].nonzero().numel() == 3
    # Four carbon neighbours by single bonds (neopentyl-like) clip at 3.
    data = f("*CC(C)(C)C*")
    env = atom_environments(data.z, data.edge_index, data.edge_attr[:, 0])
    assert env.max() == 3


def test_environment_head_scores_only_masked_atoms():
    torch.manual_seed(0)
    head = AtomEnvironmentHead(8, num_slots=5, num_counts=4)
    h = torch.randn(6, 8)
    labels = torch.randint(0, 4, (6, 5))
    logits = head(h)
    assert logits.shape == (6, 5, 4)
    full = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), labels.flatten(), reduction="sum") / 6
    assert torch.allclose(head.loss(logits, labels), full)
    labels[3:] = IGNORE_INDEX  # atoms not masked are not scored
    part = torch.nn.functional.cross_entropy(
        logits[:3].flatten(0, 1), labels[:3].flatten(), reduction="sum") / 3
    assert torch.allclose(head.loss(logits, labels), part)
    labels[:] = IGNORE_INDEX
    assert head.loss(logits, labels).item() == 0.0


def test_mask_neighbours_hides_the_bonded_neighbours_of_masked_atoms(
        monkeypatch):
    seen = {}
    for on in (False, True):
        module = PretrainModule(GIN, token_weight=0, coord_weight=0,
                                contrastive_weight=0, cutoff=4.0,
                                branches=["2d"], environment_weight=1.0,
                                mask_neighbours=on)
        encode = module.model.encode_2d

        def spy(batch, x):
            seen[on] = (x == torch.as_tensor(masked_atom_features())).all(1)
            return encode(batch, x=x)

        monkeypatch.setattr(module.model, "encode_2d", spy)
        batch = _batch()
        losses = module._losses(batch, 0, 0)
    chosen, hidden = seen[False], seen[True]  # same draws in both runs
    src, dst = batch.edge_index
    neighbours = torch.zeros_like(chosen)
    neighbours[dst[chosen[src]]] = True
    assert chosen.any() and (neighbours & ~chosen).any()
    assert torch.equal(hidden, chosen | neighbours)
    assert torch.isfinite(losses["loss"])


def test_environment_objective_trains_each_atom_branch():
    torch.manual_seed(0)
    module = PretrainModule(GIN, token_weight=0, contrastive_weight=0,
                            cutoff=4.0, branches=["3d", "2d"],
                            environment_weight=1.0)
    losses = module._losses(_batch(), 0, 0)
    assert {"environment", "environment_2d"} <= set(losses)
    # 55 slots of 4 classes: an untrained head is near 55 ln 4 per atom.
    assert 40 < losses["environment_2d"].item() < 120
    losses["environment_2d"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in module.model.encoder_2d.parameters())
    with pytest.raises(ValueError, match="environment_weight > 0 needs"):
        PretrainModule(TINY, coord_weight=0, atom_weight=0, branches=["1d"],
                       contrastive_weight=0, environment_weight=1.0)


def test_2d_branch_pretraining_trains_only_that_branch():
    f = PolymerFeaturizer(num_conformers=2, cutoff=4.0, descriptors="rdkit")
    batch = next(iter(DataLoader([f(s) for s in POLYMERS],
                                 batch_size=len(POLYMERS))))
    torch.manual_seed(0)
    module = PretrainModule(GIN, token_weight=0, coord_weight=0,
                            contrastive_weight=0, cutoff=4.0,
                            descriptor_weight=1.0,
                            num_descriptors=batch.descriptors.size(1),
                            branches=["2d"])
    assert module.branches == ("2d",)
    module.descriptor_scaler.fit(batch.descriptors)
    losses = module._losses(batch, 0, 0)
    assert set(losses) == {"atom_2d", "descriptor", "loss"}
    losses["loss"].backward()
    trained = list(module.model.encoder_2d.parameters()) + list(
        module.model.project_2d.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in trained)
    for name in ("sequence_encoder", "encoder_3d"):  # never run
        assert all(p.grad is None for p in
                   getattr(module.model, name).parameters()), name
    # Both 3D and 2D: the masked atoms are predicted from each branch.
    both = PretrainModule(GIN, token_weight=0, contrastive_weight=0,
                          cutoff=4.0, branches=["3d", "2d"])
    assert set(both._losses(_batch(), 0, 0)) == {"coord", "atom", "atom_2d",
                                                  "loss"}


@pytest.mark.parametrize("model, settings, message", [
    (TINY, dict(branches=["2d"]), "model.encoder_2d"),
    (GIN, dict(branches=["2d"]), "token_weight > 0 needs the 1d branch"),
    (GIN, dict(branches=["1d", "2d"], token_weight=0, coord_weight=0),
     "contrastive_weight > 0 needs the 3d branch"),
    (GIN, dict(branches=["4d"]), "non-empty list"),
    (TINY, dict(token_weight=0, coord_weight=0, atom_weight=0,
                contrastive_weight=0), "all pretraining objectives"),
])
def test_branches_and_objectives_must_agree(model, settings, message):
    with pytest.raises(ValueError, match=message):
        PretrainModule(model, **settings)


def test_2d_pretraining_run_records_its_branch(tiny_config, tiny_csv,
                                               tmp_path):
    config = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "model.encoder_2d=gin",
        "pretrain.branches=[2d]", "pretrain.token_weight=0",
        "pretrain.coord_weight=0", "pretrain.contrastive_weight=0",
        "pretrain.descriptor_weight=1", "pretrain.environment_weight=1",
        "pretrain.max_epochs=1"])
    path = run_pretrain(config, tmp_path / "p")
    blob = torch.load(path, weights_only=True)
    assert blob["pretrained_branches"] == ["2d"]
    assert MMPolymer.load(path).mode == "2d"  # embeddings: the GIN branch
    card = json.loads((tmp_path / "p" / "card.json").read_text())
    assert card["branches"] == ["2d"]
    assert card["objectives"]["environment_weight"] == 1
    log = pd.read_csv(tmp_path / "p" / "logs" / "metrics.csv")
    assert log["train_atom_2d"].notna().any() and "train_token" not in log
    assert log["val_environment_2d"].notna().any()
    # Heads of the module only: the saved model holds none of them.
    assert not any("environment" in k for k in blob["state_dict"])
    # The default's two members fine-tuned from it: the GIN-branch member
    # takes its GIN, the sequence + 3D member nothing (no error either way).
    from mmpoly_geo.training import run_finetune
    config = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "data.target=value", "optim.max_epochs=1",
        "finetune.baselines=[]", f"finetune.pretrained={path}"])
    assert len(config["finetune"]["members"]) == 2
    assert run_finetune(config, tmp_path / "ft")["models"]["mmpolymer"]


def test_default_finetune_takes_the_shipped_gin(tiny_csv, tmp_path,
                                                monkeypatch):
    """At the default model size the default members start as the default
    says: the GIN member from the shipped ``gin`` checkpoint, the sequence +
    3D member from scratch; a branch given by two files is an error."""
    from mmpoly_geo.models.pretrained import resolve_pretrained
    from mmpoly_geo.training import FinetuneModule, run_finetune

    calls = []
    load = FinetuneModule.load_pretrained

    def spy(self, path):
        copied = load(self, path)
        calls.append((self.model.mode, Path(path), copied))
        return copied
    monkeypatch.setattr(FinetuneModule, "load_pretrained", spy)
    settings = [f"data.csv={tiny_csv}", "data.target=value",
                f"data.root={tmp_path / 'data'}", "data.num_conformers=2",
                "data.num_workers=0", "optim.max_epochs=1",
                "finetune.folds=2", "finetune.only_folds=[0]",
                "finetune.baselines=[]", "trainer.progress_bar=false"]
    config = load_config(None, settings)
    assert run_finetune(config, tmp_path / "ft")["models"]["mmpolymer"]
    gin = resolve_pretrained("gin")
    assert calls == [("both", gin, []), ("2d", gin, ["2d"])]
    config = load_config(None, settings + ["finetune.pretrained=[gin, gin]"])
    with pytest.raises(ValueError, match="both pretrained the 2d branch"):
        run_finetune(config, tmp_path / "twice")


def test_excluded_polymers_are_neither_trained_nor_validated(
        tiny_config, tiny_csv, tmp_path, capsys):
    # Ten corpus polymers, written another way (same polymer key), and a
    # string that does not parse (skipped: no corpus row can be it).
    corpus = pd.read_csv(tiny_csv)["psmiles"]
    rewritten = [Chem.MolToSmiles(Chem.MolFromSmiles(s), doRandom=True,
                                  canonical=False) for s in corpus[:10]]
    assert rewritten != list(corpus[:10])
    held = tmp_path / "held.csv"
    pd.DataFrame({"psmiles": rewritten + ["not a polymer"]}).to_csv(
        held, index=False)
    config = load_config(tiny_config, [
        f"data.csv={tiny_csv}", "model.encoder_2d=gin",
        "pretrain.branches=[2d]", "pretrain.token_weight=0",
        "pretrain.coord_weight=0", "pretrain.contrastive_weight=0",
        "pretrain.descriptor_weight=1", "pretrain.max_epochs=1",
        f"pretrain.exclude=['{held}']"])
    run_pretrain(config, tmp_path / "p")
    said = capsys.readouterr().out
    assert "left out 10 of 48 polymers" in said
    m = re.search(r"pretraining on (\d+) polymers \((\d+) held out", said)
    assert m and int(m.group(1)) + int(m.group(2)) == 38, said
    card = json.loads((tmp_path / "p" / "card.json").read_text())
    assert card["corpus"]["excluded"] == 10
    assert card["corpus"]["exclude"] == [str(held)]
    with pytest.raises(ValueError, match="neither a shipped benchmark"):
        excluded_keys(["Eeaa"])
    # A shipped benchmark by name: all of Eea's polymers.
    assert len(excluded_keys(["Eea"])) == len(pd.read_csv(shipped_files(
        "Eea")[0]).psmiles.map(polymer_key).unique())
