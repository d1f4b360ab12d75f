from pathlib import Path

import pytest

from mmpoly_geo.data.shipped import shipped_files

TINY_MODEL = """\
model:
  fusion_channels: 16
  sequence_kwargs: {hidden_channels: 16, num_layers: 1, num_heads: 2}
  encoder_3d_kwargs: {hidden_channels: 8, vector_channels: 2, num_layers: 1}
optim: {max_epochs: 2, batch_size: 16, patience: 5}
data: {num_conformers: 2, num_workers: 0}
trainer: {progress_bar: false, accelerator: cpu}
finetune: {folds: 2, val_fraction: 0.2, pretrained: null}
pretrain: {val_fraction: 0.2, max_epochs: 2, batch_size: 16, patience: 5}
"""


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    text = TINY_MODEL.replace("data: {", f"data: {{root: '{tmp_path / 'data'}', ")
    path.write_text(text)
    return path


@pytest.fixture
def tiny_csv(tmp_path):
    """The first 48 labelled polymers of Eea."""
    lines = Path(shipped_files("Eea")[0]).read_text().splitlines()[:49]
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
