"""Training with PyTorch Lightning: fine-tuning with k-fold cross-validation
and pretraining. Prediction with trained models is
:class:`mmpoly_geo.models.Predictor`, which needs no Lightning; layers in
:mod:`mmpoly_geo.nn` do not depend on this package."""
from mmpoly_geo.training.config import DEFAULTS, load_config, save_config
from mmpoly_geo.training.cross_validation import run_finetune
from mmpoly_geo.training.finetune_module import FinetuneModule
from mmpoly_geo.training.metrics import regression_metrics
from mmpoly_geo.training.splits import grouped_kfold, train_val_split

__all__ = [
    "DEFAULTS", "FinetuneModule", "grouped_kfold",
    "load_config", "regression_metrics", "run_finetune", "save_config",
    "train_val_split",
]
