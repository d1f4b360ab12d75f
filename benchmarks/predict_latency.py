"""Latency of ``predict`` on CPU: one polymer after the fold ensemble is
loaded (featurisation plus every fold model on every conformer), and end to
end (a fresh ``mmpoly-geo predict`` process: start, imports, loading,
prediction, printed result). Baselines: the 1 s (after loading) and 3 s (end
to end) targets, and, for the imports, the training stack (Lightning) that the
prediction path no longer loads, each timed in fresh processes of this run.

Usage::

    python benchmarks/predict_latency.py --model RUN_DIR [--psmiles '*CC(*)C']
"""
import argparse
import subprocess
import sys
import time

from mmpoly_geo.models import Predictor

TARGET_SECONDS = 1.0
TARGET_END_TO_END = 3.0


def _fresh(code_or_args, repeats):
    """Median wall time of a fresh Python process."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, *code_or_args], check=True,
                       capture_output=True)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a finetune run folder")
    parser.add_argument("--psmiles", default="*CC(*)C")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--process-repeats", type=int, default=3)
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
    print(f"predict {args.psmiles!r} after loading: median "
          f"{1e3 * median:.1f} ms, min {1e3 * times[0]:.1f} ms, max "
          f"{1e3 * times[-1]:.1f} ms over {args.repeats} calls -> "
          f"{median / TARGET_SECONDS:.2f} of the {TARGET_SECONDS:g} s target")
    n = args.process_repeats
    bare = _fresh(["-c", "pass"], n)
    prediction = _fresh(["-c", "import mmpoly_geo.models, mmpoly_geo.cli"], n)
    training = _fresh(["-c", "import mmpoly_geo.training"], n)
    end_to_end = _fresh(["-m", "mmpoly_geo.cli", "predict", args.psmiles,
                         "--model", args.model], n)
    print(f"fresh process (median of {n}): bare Python {bare:.2f} s; "
          f"imports of the prediction path {prediction:.2f} s vs the "
          f"training stack {training:.2f} s ({training / prediction:.2f}x)")
    print(f"end to end 'mmpoly-geo predict {args.psmiles} --model ...': "
          f"{end_to_end:.2f} s -> {end_to_end / TARGET_END_TO_END:.2f} of the "
          f"{TARGET_END_TO_END:g} s target")
    print(frame.drop(columns=["error"]).to_string(index=False))


if __name__ == "__main__":
    main()
