import random

from mmpoly_geo.training.sampling import LengthBucketBatchSampler


def test_length_buckets_cover_each_sample_once_with_less_padding():
    rng = random.Random(0)
    lengths = [rng.randint(5, 80) for _ in range(1003)]
    sampler = LengthBucketBatchSampler(lengths, 16, seed=3, bucket_batches=8)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1003))
    padding = sum(max(lengths[i] for i in b) * len(b)
                  - sum(lengths[i] for i in b) for b in batches)
    order = list(range(1003))
    rng.shuffle(order)
    plain = [order[k:k + 16] for k in range(0, 1003, 16)]
    plain_padding = sum(max(lengths[i] for i in b) * len(b)
                        - sum(lengths[i] for i in b) for b in plain)
    assert padding < 0.3 * plain_padding
    # The order depends on (seed, epoch) only.
    again = LengthBucketBatchSampler(lengths, 16, seed=3, bucket_batches=8)
    assert list(again) == batches
    again.sampler.set_epoch(1)
    assert list(again) != batches


def test_length_buckets_split_across_ranks():
    lengths = list(range(100))
    ranks = [LengthBucketBatchSampler(lengths, 8, seed=1, num_replicas=2,
                                      rank=r) for r in (0, 1)]
    a, b = list(ranks[0]), list(ranks[1])
    assert len(a) == len(b) == len(ranks[0]) == 7  # 13 batches, padded to 14
    assert {i for batch in a + b for i in batch} == set(range(100))
