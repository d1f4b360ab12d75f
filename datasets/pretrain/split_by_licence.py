"""Splits the pretraining corpus by licence (provenance script, run once).

Input: ``psmiles.csv`` as described in ``SOURCES.md`` (129,244 rows, grouped by
source in the row ranges listed there). Output: one CSV per licence class that
may be redistributed, with columns ``psmiles,source`` (``source`` = the row of
the sources table in SOURCES.md). Rows whose source states no licence are not
written. Usage::

    python datasets/pretrain/split_by_licence.py ../shared/datasets/pretrain/psmiles.csv
"""
import csv
import sys
from pathlib import Path

# (first row, last row, source number, licence class); rows are 1-based data rows.
RANGES = [
    (1, 28578, 1, "permissive"),       # PI1M subset (PI1M: MIT)
    (28579, 76429, 2, "permissive"),   # PI1M subset, open_polymer repo (MIT)
    (76430, 76467, 3, "noncommercial"),
    (76468, 80155, 4, "noncommercial"),
    (80156, 107013, 5, "noncommercial"),
    (107014, 115336, 6, "noncommercial"),
    (115337, 116841, 7, "gpl"),
    (116842, 116871, 8, "gpl"),
    (116872, 117622, 9, None),
    (117623, 117664, 10, None),
    (117665, 121224, 11, None),
    (121225, 121272, 12, None),
    (121273, 124628, 13, None),
    (124629, 125768, 14, None),
    (125769, 126056, 15, None),
    (126057, 126117, 16, None),
    (126118, 126125, 17, None),
] + [(a, b, s, "noncommercial") for a, b, s in [
    (126126, 126677, 18), (126678, 126679, 19), (126680, 126827, 20),
    (126828, 126831, 21), (126832, 126843, 22), (126844, 126845, 23),
    (126846, 127280, 24), (127281, 127395, 25), (127396, 127396, 26),
    (127397, 127456, 27), (127457, 127568, 28), (127569, 127570, 29),
    (127571, 127594, 30), (127595, 127598, 31), (127599, 127790, 32),
    (127791, 127795, 33), (127796, 127847, 34), (127848, 128748, 35)]] + [
    (128749, 128907, 36, "permissive"), (128908, 128924, 37, "permissive"),
    (128925, 129073, 38, "permissive"), (129074, 129089, 39, "permissive"),
    (129090, 129094, 40, "permissive"), (129095, 129194, 41, "permissive"),
    (129195, 129244, 42, None),
]


def main(path):
    with open(path, newline="") as f:
        rows = [r["psmiles"] for r in csv.DictReader(f)]
    assert len(rows) == 129244, len(rows)
    out = {}
    for first, last, source, licence in RANGES:
        for row in range(first, last + 1):
            out.setdefault(licence, []).append((rows[row - 1], source))
    assert sum(len(v) for v in out.values()) == len(rows)
    here = Path(__file__).parent
    for licence, items in out.items():
        print(f"{licence}: {len(items)} rows")
        if licence is None:
            continue
        with open(here / f"psmiles_{licence}.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["psmiles", "source"])
            w.writerows(items)


if __name__ == "__main__":
    main(sys.argv[1])
