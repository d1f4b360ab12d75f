"""Seeded, resumable randomness for training: batch order and conformer
choice depend only on (seed, epoch), so a resumed run repeats them."""
from __future__ import annotations

from typing import Iterator, List

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


class LengthBucketBatchSampler(Sampler):
    """Batches of polymers of similar length (less padding of the token
    sequences), in an order that depends only on ``(seed, epoch)``.

    Each epoch the indices are permuted (:class:`EpochSeededSampler`, whose
    epoch Lightning sets), cut into buckets of :obj:`bucket_batches` batches,
    each bucket sorted by length and cut into batches, and the batches
    shuffled; under DDP each of the :obj:`num_replicas` ranks takes every
    :obj:`num_replicas`-th batch (padded to equal counts).

    Args:
        lengths (list of int): Length of each sample (e.g. tokens).
        batch_size (int): Samples per batch.
        seed (int, optional): Seed. (default: :obj:`0`)
        num_replicas (int, optional): DDP ranks. (default: :obj:`1`)
        rank (int, optional): This rank. (default: :obj:`0`)
        bucket_batches (int, optional): Batches per sorted bucket.
            (default: :obj:`50`)
    """
    def __init__(self, lengths, batch_size: int, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0,
                 bucket_batches: int = 50):
        self.lengths = [int(v) for v in lengths]
        self.batch_size = batch_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.bucket = batch_size * bucket_batches
        self.sampler = EpochSeededSampler(len(self.lengths), seed)

    def _batches(self):
        order = list(iter(self.sampler))
        batches = []
        for start in range(0, len(order), self.bucket):
            chunk = sorted(order[start:start + self.bucket],
                           key=self.lengths.__getitem__)
            batches += [chunk[i:i + self.batch_size]
                        for i in range(0, len(chunk), self.batch_size)]
        g = torch.Generator().manual_seed(
            self.sampler.seed * 100003 + self.sampler.epoch + 7)
        batches = [batches[i] for i in
                   torch.randperm(len(batches), generator=g).tolist()]
        per_rank = -(-len(batches) // self.num_replicas)
        batches += batches[:per_rank * self.num_replicas - len(batches)]
        return batches[self.rank::self.num_replicas]

    def __iter__(self) -> Iterator[List[int]]:
        # Lazy: Lightning creates the iterator before it sets the epoch.
        yield from self._batches()

    def __len__(self) -> int:
        full, rest = divmod(len(self.lengths), self.bucket)
        num_batches = (full * (self.bucket // self.batch_size)
                       + -(-rest // self.batch_size))
        return -(-num_batches // self.num_replicas)
