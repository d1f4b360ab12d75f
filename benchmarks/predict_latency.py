"""End-to-end latency of ``predict`` for one polymer on CPU: featurisation
(validation, canonical form, conformers, graphs) plus every fold model on
every conformer, after the ensemble is loaded.

Usage::

    python benchmarks/predict_latency.py --model RUN_DIR [--psmiles '*CC(*)C']
"""
import argparse
import time

from mmpoly_geo.training import Predictor

TARGET_SECONDS = 0.5


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a finetune run folder")
    parser.add_argument("--psmiles", default="*CC(*)C")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    start = time.perf_counter()
    predictor = Predictor.load(args.model)
    loaded = time.perf_counter() - start
    predictor.predict([args.psmiles])  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        frame = predictor.predict([args.psmiles])
        times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2]
    print(f"loaded {len(predictor.folds)} fold models in {loaded:.2f} s; "
          f"{predictor.featurizer.num_conformers} conformers per polymer")
    print(f"predict {args.psmiles!r}: median {1e3 * median:.1f} ms, "
          f"min {1e3 * times[0]:.1f} ms, max {1e3 * times[-1]:.1f} ms over "
          f"{args.repeats} calls -> {median / TARGET_SECONDS:.2f} of the "
          f"{TARGET_SECONDS} s target")
    print(frame.drop(columns=["error"]).to_string(index=False))


if __name__ == "__main__":
    main()
