"""Seeded, resumable randomness for training: batch order and conformer
choice depend only on (seed, epoch), so a resumed run repeats them."""
from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


class EpochSeededSampler(Sampler):
    """A random permutation per epoch from ``(seed, epoch)``; Lightning calls
    :meth:`set_epoch` before each epoch. Under DDP each of the
    :obj:`num_replicas` ranks takes every :obj:`num_replicas`-th index (padded
    to equal length)."""
    def __init__(self, num_samples: int, seed: int = 0, num_replicas: int = 1,
                 rank: int = 0):
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0
        self.num_replicas = num_replicas
        self.rank = rank

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        order = torch.randperm(self.num_samples, generator=g).tolist()
        per_rank = -(-self.num_samples // self.num_replicas)
        order += order[:per_rank * self.num_replicas - len(order)]
        return iter(order[self.rank::self.num_replicas])

    def __len__(self) -> int:
        return -(-self.num_samples // self.num_replicas)


def random_conformers(batch, seed: int, epoch: int, step: int):
    """One conformer index per graph, from ``(seed, epoch, step)``."""
    g = torch.Generator().manual_seed((seed * 1000003 + epoch) * 100003 + step)
    k = batch.pos_confs.size(1)
    return torch.randint(k, (batch.num_graphs,), generator=g).to(
        batch.pos.device)
