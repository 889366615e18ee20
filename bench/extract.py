"""Benchmark: `diff_in_means` against the naive reference and against its limit, side by side in one run.

Naive reference (the original code's way): a full forward pass with `output_hidden_states=True` and logits at every
position, then the post-instruction slice of each hidden state. Ours: one traced pass per batch that keeps the
post-instruction positions of each block's input inside its hook and stops *before* the last block (the input of
block L-1 is all it needs from it), accumulating float64 sums per batch.
The limit: a bare forward through the embeddings and blocks 0..L-2 (the decoder, `model.model`, with the last block
taken out of its list; no hooks, nothing kept, no LM head) over the same prompts, tokenized beforehand: the least
work that yields the input of every block. Ours should reach >= 0.97 of its speed (ours also tokenizes, hooks and
accumulates float64 sums).

Model: a random Llama with 12 layers, d_model 512 and Llama 3's vocabulary size (128,256; the LM head is
part of what the reference pays for), the demo tokenizer's ids. Prompts: >= 256 per side, from the demo data.
Timing: repetitions interleaved (limit, ours, naive), so all three see the same machine load; the best of each.
Both wall time and this process's CPU time are reported: with one torch thread (the default, `--threads`) the
CPU time is what other jobs on a shared machine disturb least, and on a quiet machine the two agree.
Memory: the peak RSS growth of a child process that runs ours on N and on 4N prompts (it must not grow with N).
Last line: `speedup N.NN x` (ours against the naive reference, wall time).
"""
import argparse, subprocess, sys, time
from pathlib import Path
import torch
from torch import nn
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from role_vectors.config import demo_model_dir
from role_vectors.data import load_role_prompts, load_base_prompts
from role_vectors.models import Adapter, position_ids
from role_vectors.directions import diff_in_means

def make_adapter(vocab=128256, n_layers=12, d_model=512, seed=0):
    tok = AutoTokenizer.from_pretrained(demo_model_dir())
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=d_model, intermediate_size=4*d_model, num_hidden_layers=n_layers,
                      num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=512,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    return Adapter.from_model(LlamaForCausalLM(cfg).eval().requires_grad_(False), tok)

def prompts(n):
    role = [r["instruction"] for r in load_role_prompts("mathematician")]
    base = [b["instruction"] for b in load_base_prompts("train")]
    return (role * (n // len(role) + 1))[:n], (base * (n // len(base) + 1))[:n]

@torch.inference_mode()
def naive_mean(adapter, instructions, batch_size):
    "Full forward, all hidden states, all logits; mean of the post-instruction slice"
    n = adapter.n_eoi
    total = torch.zeros(n, adapter.n_layers, adapter.d_model, dtype=torch.float64)
    for i in range(0, len(instructions), batch_size):
        enc = adapter.tokenize(instructions[i:i + batch_size])
        out = adapter.model(**enc, position_ids=position_ids(enc.attention_mask), output_hidden_states=True,
                            use_cache=False)
        hs = torch.stack(out.hidden_states[:adapter.n_layers], dim=2)[:, -n:]  # [batch, n_eoi, n_layers, d_model]
        total += hs.double().sum(0)
    return total / len(instructions)

def naive_diff(adapter, role, base, batch_size):
    return naive_mean(adapter, role, batch_size) - naive_mean(adapter, base, batch_size)

@torch.inference_mode()
def blocks_but_last(adapter, encs):
    "The limit: the decoder through blocks 0..L-2 (the last block out of its list), pre-tokenized batches, nothing kept"
    dec = adapter.model.model
    every = dec.layers
    dec.layers = nn.ModuleList(list(every)[:-1])
    try:
        for enc in encs: dec(**enc, position_ids=position_ids(enc.attention_mask), use_cache=False)
    finally: dec.layers = every

def peak_growth_mb(n, batch_size, threads):
    "Run ours on n prompts per side in a child process; report its RSS growth after the model is built"
    code = (f"import sys, resource, torch; sys.path.insert(0, {str(ROOT)!r}); torch.set_num_threads({threads})\n"
            "from bench.extract import make_adapter, prompts\nfrom role_vectors.directions import diff_in_means\n"
            f"a = make_adapter(); r, b = prompts({n}); diff_in_means(a, r[:4], b[:4], progress=False)\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            f"diff_in_means(a, r, b, batch_size={batch_size}, progress=False)\n"
            "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "print(after - before, after)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if out.returncode: raise RuntimeError(out.stderr)
    growth, peak = out.stdout.strip().splitlines()[-1].split()
    return int(growth) / 1024, int(peak) / 1024

def timed(fn):
    "fn(), its wall time and this process's CPU time"
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=256, help="prompts per side")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: least disturbed by other load)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    adapter = make_adapter()
    role, base = prompts(a.n)
    print(f"random Llama: {adapter.n_layers} layers, d_model {adapter.d_model}, vocab "
          f"{adapter.model.config.vocab_size}; {a.n} prompts per side, batch {a.batch}, torch threads "
          f"{torch.get_num_threads()}")
    diff_in_means(adapter, role[:8], base[:8], progress=False)  # warm-up
    encs = [adapter.tokenize(xs[i:i + a.batch]) for xs in (role, base) for i in range(0, len(xs), a.batch)]
    wall, cpu = {k: [] for k in ("limit", "ours", "naive")}, {k: [] for k in ("limit", "ours", "naive")}
    runs = dict(limit=lambda: blocks_but_last(adapter, encs),
                ours=lambda: diff_in_means(adapter, role, base, batch_size=a.batch, progress=False),
                naive=lambda: naive_diff(adapter, role, base, a.batch))
    out = {}
    for _ in range(a.reps):   # interleaved, so all three see the same machine load
        for k, f in runs.items():
            out[k], w, c = timed(f)
            wall[k].append(w); cpu[k].append(c)
    err = (out["ours"] - out["naive"]).abs().max().item()
    print(f"max |ours - naive| = {err:.2e}")
    if err > 1e-4: sys.exit(f"results differ: {err}")
    small, large = peak_growth_mb(a.n // 4, a.batch, a.threads), peak_growth_mb(a.n, a.batch, a.threads)
    print(f"diff_in_means peak RSS (growth over a 4-prompt warm-up): {small[1]:.0f} MB ({small[0]:+.1f}) with "
          f"{a.n // 4} prompts/side, {large[1]:.0f} MB ({large[0]:+.1f}) with {a.n}")
    for name, t in (("wall", wall), ("CPU", cpu)):
        spread = "   ".join(f"{k} {min(v):.2f}-{max(v):.2f}" for k, v in t.items())
        print(f"{name} time, best of {a.reps}: naive {min(t['naive']):.2f} s   ours {min(t['ours']):.2f} s   "
              f"blocks 0..L-2 (the limit) {min(t['limit']):.2f} s   (range: {spread})")
    print(f"ours at {min(wall['limit']) / min(wall['ours']):.3f} of the limit's speed by wall time, "
          f"{min(cpu['limit']) / min(cpu['ours']):.3f} by CPU time (goal >= 0.97; the limit is a forward through "
          "blocks 0..L-2 alone: ours also tokenizes, hooks and accumulates float64 sums)")
    print(f"speedup {min(wall['naive']) / min(wall['ours']):.2f} x")

if __name__ == "__main__": main()
