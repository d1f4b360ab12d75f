"""Latency of ``predict`` on CPU: one polymer after the models are loaded
(featurisation plus every model on every conformer; by default every
property model shipped with the package, else a ``finetune`` run), and end to
end (a fresh ``mmpoly-geo predict`` process: start, imports, loading,
prediction, printed result). Baselines: the 1 s (after loading) and 3 s (end
to end) targets, and, for the imports, the training stack (Lightning) that the
prediction path no longer loads, each timed in fresh processes of this run.

Usage::

    python benchmarks/predict_latency.py [--model RUN_DIR] [--psmiles '*CC(*)C']
"""
import argparse
import subprocess
import sys
import time

from mmpoly_geo import api

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
    parser.add_argument("--model", help="a finetune run folder (default: "
                                        "the shipped models)")
    parser.add_argument("--psmiles", default="*CC(*)C")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--process-repeats", type=int, default=3)
    args = parser.parse_args()
    start = time.perf_counter()
    predictors = api.load_models(args.model)
    loaded = time.perf_counter() - start
    api.predict([args.psmiles], predictors)  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        frame = api.predict([args.psmiles], predictors)
        times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2]
    names = [n for p in predictors for n in p.output_names]
    print(f"loaded {sum(len(p.folds) for p in predictors)} models "
          f"({len(names)} properties: {', '.join(names)}) in {loaded:.2f} s; "
          f"{predictors[0].featurizer.num_conformers} conformers per polymer")
    print(f"predict {args.psmiles!r} after loading: median "
          f"{1e3 * median:.1f} ms, min {1e3 * times[0]:.1f} ms, max "
          f"{1e3 * times[-1]:.1f} ms over {args.repeats} calls -> "
          f"{median / TARGET_SECONDS:.2f} of the {TARGET_SECONDS:g} s target")
    n = args.process_repeats
    bare = _fresh(["-c", "pass"], n)
    prediction = _fresh(["-c", "import mmpoly_geo.models, mmpoly_geo.cli"], n)
    training = _fresh(["-c", "import mmpoly_geo.training"], n)
    model = ["--model", args.model] if args.model else []
    end_to_end = _fresh(["-m", "mmpoly_geo.cli", "predict", args.psmiles,
                         *model], n)
    # Where the prediction path's import time goes (each cumulative): PyG's
    # top-level import loads torch._dynamo (torch_geometric.isinstance).
    layers = {"torch": "import torch",
              "+ torch._dynamo": "import torch, torch._dynamo",
              "+ torch_geometric": "import torch_geometric",
              "+ rdkit, pandas": "import torch_geometric, rdkit.Chem, pandas"}
    cumulative = {k: _fresh(["-c", code], n) for k, code in layers.items()}
    print(f"fresh process (median of {n}): bare Python {bare:.2f} s; "
          f"imports of the prediction path {prediction:.2f} s vs the "
          f"training stack {training:.2f} s ({training / prediction:.2f}x)")
    print("  of which (cumulative imports): " + ", ".join(
        f"{k} {v:.2f} s" for k, v in cumulative.items()))
    print(f"end to end 'mmpoly-geo predict {args.psmiles}"
          f"{' --model ...' if args.model else ''}': "
          f"{end_to_end:.2f} s -> {end_to_end / TARGET_END_TO_END:.2f} of the "
          f"{TARGET_END_TO_END:g} s target")
    print(frame.drop(columns=["error"]).T.to_string(header=False))


if __name__ == "__main__":
    main()
