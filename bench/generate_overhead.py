"""Benchmark: the cost of steering a generation, steered against unsteered, side by side in one run.

Model: a random Llama with 16 layers and d_model 256 (`tiny_adapter`, the demo tokenizer), or `--model demo`.
The same prompts are generated greedily with a fixed number of new tokens (`min_new_tokens = max_new_tokens`,
so both runs do exactly the same number of forward calls), with the KV cache, unsteered and with a vector
added at the middle layer (`role_vectors.steer.generate`), interleaved repetitions so both see the same
machine load. Ablation (hooks on every block, attention and MLP) is timed too, for information.
Last line: `overhead N.N %` of activation addition, from the best time of each (goal: <= 5 %).
Run: `.venv/bin/python bench/generate_overhead.py [--model demo] [--device cuda] [--threads N]`.
"""
import argparse, statistics, sys, time, warnings
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from role_vectors.models import load_model
from role_vectors.testing import tiny_adapter
from role_vectors.steer import generate

PROMPTS = ["What is a prime number?", "Explain photosynthesis briefly.", "How do I compute a determinant?",
           "Describe the water cycle.", "Recommend a book about history.", "What is the capital of France?",
           "Solve 2x + 3 = 7.", "Compare cats and dogs as pets."]

def timed(fn):
    if torch.cuda.is_available(): torch.cuda.synchronize()
    t = time.perf_counter(); fn()
    if torch.cuda.is_available(): torch.cuda.synchronize()
    return time.perf_counter() - t

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="random", help="'random' (16-layer Llama, d_model 256) or 'demo'")
    p.add_argument("--new", type=int, default=32, help="new tokens per prompt")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: least disturbed by other load)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    warnings.simplefilter("ignore")
    adapter = tiny_adapter("llama", n_layers=16, d_model=256) if a.model == "random" else load_model(a.model)
    adapter.model.to(a.device)
    torch.manual_seed(0)
    layer = adapter.n_layers // 2
    vec = torch.randn(adapter.d_model)
    kw = dict(max_new_tokens=a.new, min_new_tokens=a.new, batch_size=a.batch, progress=False)
    runs = {"unsteered": lambda: generate(adapter, PROMPTS, **kw),
            "steered": lambda: generate(adapter, PROMPTS, vector=vec, layer=layer, coeff=4.0, **kw),
            "ablated": lambda: generate(adapter, PROMPTS, direction=vec, **kw)}
    print(f"{adapter.model_type}: {adapter.n_layers} layers, d_model {adapter.d_model}, device {a.device}; "
          f"{len(PROMPTS)} prompts, batch {a.batch}, {a.new} new tokens each, KV cache, torch threads "
          f"{torch.get_num_threads()}")
    for f in runs.values(): f()   # warm-up
    times = {k: [] for k in runs}
    for _ in range(a.reps):       # interleaved
        for k, f in runs.items(): times[k].append(timed(f))
    for k, ts in times.items():
        print(f"{k:>10}: best {min(ts):.3f} s   median {statistics.median(ts):.3f} s   (of {a.reps})")
    base = min(times["unsteered"])
    print(f"ablation (hooks on all {3 * adapter.n_layers} modules): overhead "
          f"{100 * (min(times['ablated']) / base - 1):.1f} %")
    print(f"overhead {100 * (min(times['steered']) / base - 1):.1f} %")

if __name__ == "__main__": main()
