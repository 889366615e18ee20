"""The GPU benchmark: absolute figures at 8B scale in one short run, no download. `make bench-gpu`, or
`python bench/gpu.py [--out bench/gpu.json] [--parts extract,sweep,...]`; `--small` runs the same code on tiny shapes in
float32 on the CPU in under 3 minutes (what `make test` runs, so that this script cannot rot).

Models are random, built from configs on the device (the demo tokenizer's ids, its Llama-3-style chat template):
"8B", Llama 3 8B's shapes in bfloat16 (32 blocks, d_model 4096, MLP 14336, 32 heads, 8 KV heads, vocabulary 128,256),
and "1B", Llama 3.2 1B's shapes (16 blocks, d_model 2048, MLP 8192; embeddings untied) in float32 and bfloat16.
Random weights make the timings real and the accuracies meaningless (near chance): the accuracy figures here only
say whether two computations agree.

Every figure is one printed line that names the device, the dtype and the shapes, and the same figures are written as
JSON (`--out`, default `bench/gpu.json`, `bench/gpu-small.json` with `--small`). The parts, each with a time budget
(seconds on the GPU; `--small` on the CPU in brackets); a part that overruns is stopped and recorded as stopped:

- setup   40 (20): build the 8B model on the device, the prompts and questions.
- extract 45 (30): `diff_in_means` on 256 + 256 chat-formatted prompts (batch 32), ours against the naive
  `output_hidden_states` forward (all blocks, logits at every position): prompts/s, tokens/s, the FLOPs done per
  second and their share of the device's dense bf16 peak (the table `PEAK_BF16`, by device name; `--peak_tflops`
  to give another), the peak device memory, and how it grows from 32 + 32 to 256 + 256 prompts.
- sweep   75 (40): candidates/s on 128 four-option questions (the demo MMLU-style questions, repeated), every
  post-instruction position x layers L/2..L-1, ours (`sweep`) against the per-candidate full forward
  (`role_vectors.testing.naive_sweep`, timed on 3 candidates) for addition, and ablation (a full pass in both);
  the two must give the same scores; a line says whether the last block's MLP ran on the last positions only (the
  sweep does that only where it gives the same bits, `role_vectors.select.trims_exactly`).
- generate 45 (25): greedy tokens/s (64 new tokens, KV cache) unsteered, with addition, with ablation, at batch 1 and
  batch 32 (1 and 4 with `--small`), and the peak memory of each.
- dtype   50 (30): the 1B model in bfloat16 against float32, each running the whole pipeline (candidates from 64 + 64
  prompts, a sweep of all positions x layers L/2..L-1 with ablation on 64 questions): the candidates' relative
  error, how many scores and selections differ, how many answers are exact ties of the top letters and how much
  accuracy their 1/k credit carries.
- split   75 (30): the 1B model (float32) with an explicit `device_map` that puts blocks 0..L/2-1 on the GPU and the
  rest on the CPU (accelerate), against the same model on one device: the candidates' relative error and the
  sweep's scores. Two readings of "on the CPU": `offload` is accelerate's (what `load_model(device_map=...)` gets:
  the CPU half is stored on the CPU and run on the GPU, its weights streamed in); `execute` runs the CPU half on the
  CPU (`main_device="cpu"`). Without a GPU `execute` is skipped (said loudly), and `offload` is emulated with the
  second half offloaded to disk, which runs the same hooks and meta-device weights.

The run exits 1 if a part fails or a check fails (ours against the naive reference, the split against one device); a
stopped part is a failure with `--small` only. `--parts` runs some parts (setup always runs).
"""
import argparse, contextlib, copy, datetime, json, os, platform, resource, shutil, signal, sys, tempfile, time
import traceback
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig
from role_vectors.config import demo_model_dir
from role_vectors.data import load_mcq, load_role_prompts, load_base_prompts
from role_vectors.models import Adapter, position_ids
from role_vectors.directions import diff_in_means
from role_vectors.select import (sweep, sweep_cost, candidate_grid, select_direction, NoCandidateError,
                                 ablation_accuracy, trims_exactly, block_input, block_outputs)
from role_vectors.steer import generate
from role_vectors.testing import naive_sweep, report_skip
from role_vectors.trace import PassThrough, Trace, TraceDict

# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, from the vendors' data sheets; the first name found in
# `torch.cuda.get_device_name()` wins (so the longer names come first).
PEAK_BF16 = [("GH200", 989), ("H200", 989), ("H100 NVL", 835), ("H100 PCIe", 756), ("H100", 989), ("B200", 2250),
             ("A100", 312), ("L40S", 362), ("L4", 121)]

SHAPES = {   # LlamaConfig settings
    "8B": dict(num_hidden_layers=32, hidden_size=4096, intermediate_size=14336, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0),
    "1B": dict(num_hidden_layers=16, hidden_size=2048, intermediate_size=8192, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0, tie_word_embeddings=False),
    "small-8B": dict(num_hidden_layers=8, hidden_size=128, intermediate_size=448, num_attention_heads=4,
                     num_key_value_heads=2),
    "small-1B": dict(num_hidden_layers=6, hidden_size=64, intermediate_size=224, num_attention_heads=4,
                     num_key_value_heads=2),
}
BUDGETS = dict(setup=40, extract=45, sweep=75, generate=45, dtype=50, split=75)
SMALL_BUDGETS = dict(setup=20, extract=30, sweep=40, generate=25, dtype=30, split=30)
SIZES = dict(prompts=256, small_prompts=32, items=128, sweep_positions=None, new_tokens=64, gen_batches=(1, 32),
             dtype_prompts=64, dtype_items=64, dtype_positions=None, split_prompts=16, split_items=16)
SMALL_SIZES = dict(prompts=16, small_prompts=4, items=12, sweep_positions=[-2, -1], new_tokens=4, gen_batches=(1, 4),
                   dtype_prompts=8, dtype_items=8, dtype_positions=[-1], split_prompts=8, split_items=8)

class Overrun(Exception):
    "A part ran past its budget"

@contextlib.contextmanager
def budget(seconds:float):
    "Raise `Overrun` in this (main) thread once `seconds` have passed inside the block"
    def alarm(signum, frame): raise Overrun()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try: yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)

def device_name(dev) -> str:
    if dev.type == "cuda": return torch.cuda.get_device_name(dev)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"

class Bench:
    "The run's state: the device, what each part measured, the printed lines, and the checks"
    def __init__(self, a):
        self.a, self.small = a, a.small
        self.dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.cuda, self.name = self.dev.type == "cuda", device_name(self.dev)
        table = next((p for k, p in PEAK_BF16 if k in self.name), None) if self.cuda else None
        self.peak = a.peak_tflops or table
        self.sizes, self.budgets = (SMALL_SIZES, SMALL_BUDGETS) if a.small else (SIZES, BUDGETS)
        self.parts, self.failed, self.part, self.models, self.md = {}, [], None, {}, None

    def say(self, adapter, text:str, **figures):
        "Print one figure's line (device | dtype | shapes | part: text) and keep its values for the JSON"
        shape = "-" if adapter is None else self.shape(adapter)
        dtype = "-" if adapter is None else str(adapter.dtype).replace("torch.", "")
        line = f"{self.name} | {dtype} | {shape} | {self.part}: {text}"
        print(line, flush=True)
        rec = self.parts[self.part]
        rec["lines"].append(line)
        rec["figures"].append(dict(text=text, dtype=dtype, shape=shape, **figures))

    def shape(self, adapter) -> str:
        c = adapter.model.config
        return (f"{getattr(adapter, 'label', '?')}: {c.num_hidden_layers} blocks, d_model {c.hidden_size}, "
                f"MLP {c.intermediate_size}, vocab {c.vocab_size}")

    def check(self, ok:bool, what:str) -> bool:
        "A check: a failed one fails the run"
        if not ok: self.failed.append(f"{self.part}: {what}")
        return ok

    def sync(self):
        if self.cuda: torch.cuda.synchronize(self.dev)

    def timed(self, fn):
        "fn(), its wall time (the device synchronised) and the peak memory while it ran"
        self.sync()
        if self.cuda: torch.cuda.reset_peak_memory_stats(self.dev)
        t = time.perf_counter()
        out = fn()
        self.sync()
        return out, time.perf_counter() - t, self.peak_mb()

    def peak_mb(self) -> float:
        "Peak device memory since the last reset (CUDA), or the process's RSS high-water mark (CPU), in MB"
        if self.cuda: return torch.cuda.max_memory_allocated(self.dev) / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    @property
    def mem_name(self) -> str: return "peak device memory" if self.cuda else "process RSS high-water mark"

def build(b:Bench, label:str, dtype, seed:int=0) -> Adapter:
    "A random Llama of shape `label`, built on the device, with the demo tokenizer"
    tok = AutoTokenizer.from_pretrained(demo_model_dir())
    shape = {"vocab_size": len(tok), **SHAPES[label]}
    cfg = LlamaConfig(**shape, max_position_embeddings=4096, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(seed)
    with torch.device(b.dev): model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    adapter = Adapter.from_model(model.to(b.dev).eval().requires_grad_(False), tok)
    adapter.label = label
    return adapter

def repeat(xs:list, n:int) -> list: return (xs * (n // len(xs) + 1))[:n]

def flops(adapter, encs, n_blocks:int, head:bool=False) -> float:
    "FLOPs of a forward through `n_blocks` blocks over the padded batches (matrices; attention over the full mask)"
    d, V = adapter.d_model, adapter.model.config.vocab_size
    P = sum(p.numel() for p in adapter.blocks[0].parameters() if p.dim() == 2)   # a block's matrices
    f = 0.0
    for e in encs:
        B, T = e["input_ids"].shape
        f += n_blocks * (2 * P * B * T + 4 * B * T * T * d) + (2 * V * d * B * T if head else 0)
    return f

@torch.inference_mode()
def naive_mean(adapter, xs:list, batch_size:int) -> torch.Tensor:
    "The reference: full forwards with `output_hidden_states` (all blocks, logits at every position)"
    n = adapter.n_eoi
    total = torch.zeros(n, adapter.n_layers, adapter.d_model, dtype=torch.float64, device=adapter.device)
    for i in range(0, len(xs), batch_size):
        enc = adapter.tokenize(xs[i:i + batch_size])
        out = adapter.model(**enc, position_ids=position_ids(enc.attention_mask), output_hidden_states=True,
                            use_cache=False)
        hs = torch.stack(out.hidden_states[:adapter.n_layers], dim=2)[:, -n:]   # [batch, n_eoi, n_layers, d_model]
        total += hs.double().sum(0)
    return total / len(xs)

def naive_diff(adapter, role, base, bs): return naive_mean(adapter, role, bs) - naive_mean(adapter, base, bs)

def rel_err(x, ref) -> float:
    "Largest relative error over the candidates with a non-zero reference (layer 0's are exactly zero)"
    x, ref = x.double().cpu(), ref.double().cpu()
    n = ref.norm(dim=-1)
    keep = n > 0
    return ((x - ref).norm(dim=-1)[keep] / n[keep]).max().item() if keep.any() else 0.0

def same_scores(res, ref) -> tuple[int, int, float]:
    "(rows compared, rows whose scores differ, largest letter-probability difference) of two `SweepResult`s"
    want = {(r.position, r.layer, r.coeff): r for r in ref.rows}
    rows = [r for r in res.rows if (r.position, r.layer, r.coeff) in want]
    differ, err = 0, 0.0
    for r in rows:
        q = want[(r.position, r.layer, r.coeff)]
        differ += json.dumps([r.addition_score, r.ablation_score]) != json.dumps([q.addition_score, q.ablation_score])
        for k in ("addition_items", "ablation_items"):
            ri, qi = getattr(r, k), getattr(q, k)
            if ri is None or qi is None or ri[0]["selected"] is None or qi[0]["selected"] is None: continue
            err = max(err, max(abs(x["probs"][c] - y["probs"][c]) for x, y in zip(ri, qi) for c in "ABCD"))
    return len(rows), differ, err

# --- the parts ------------------------------------------------------------------------------------------------------

def part_setup(b:Bench):
    s, t = b.sizes, time.perf_counter()
    a = b.models["big"] = build(b, "small-8B" if b.small else "8B", torch.float32 if b.small else torch.bfloat16)
    b.sync()
    b.role = repeat([r["instruction"] for r in load_role_prompts("mathematician")], s["prompts"])
    b.base = repeat([r["instruction"] for r in load_base_prompts("train")], s["prompts"])
    b.items = repeat(load_mcq("math") + load_mcq("law") + load_mcq("medicine"), s["items"])
    n_params = sum(p.numel() for p in a.model.parameters())
    peak = (f"{b.peak} TFLOP/s (dense bf16, assumed from the device's name)" if b.peak else
            "unknown (pass --peak_tflops)" if b.cuda else "none (a CPU: no share of a peak is given)")
    b.say(a, f"built in {time.perf_counter() - t:.1f} s: {n_params / 1e6:,.1f} M parameters, {b.mem_name} "
             f"{b.peak_mb():.0f} MB; the device's peak: {peak}", params=n_params, peak_tflops=b.peak)

def part_extract(b:Bench):
    a, n0, bs = b.models["big"], b.sizes["small_prompts"], 32
    diff_in_means(a, b.role[:4], b.base[:4], batch_size=4, progress=False)   # warm-up
    encs = [a.tokenize(xs[i:i + bs]) for xs in (b.role, b.base) for i in range(0, len(xs), bs)]
    n_prompts, n_tok = 2 * len(b.role), sum(int(e["attention_mask"].sum()) for e in encs)
    n_pad = sum(e["input_ids"].numel() for e in encs)
    ours, t_ours, m_ours = b.timed(lambda: diff_in_means(a, b.role, b.base, batch_size=bs, progress=False))
    ref, t_ref, m_ref = b.timed(lambda: naive_diff(a, b.role, b.base, bs))
    err = rel_err(ours, ref)
    b.check(err < (1e-6 if a.dtype == torch.float32 else 1e-3), f"extraction differs from the naive forward: {err:.1e}")
    f_ours, f_ref = flops(a, encs, a.n_layers - 1), flops(a, encs, a.n_layers, head=True)
    for who, t, f, m in (("ours", t_ours, f_ours, m_ours), ("naive", t_ref, f_ref, m_ref)):
        tf = f / t / 1e12
        share = f" = {100 * tf / b.peak:.1f} % of {b.peak} TFLOP/s" if b.peak else ""
        b.say(a, f"{who}: {n_prompts} prompts ({n_tok} tokens, {n_pad} with padding, batch {bs}) in {t:.2f} s: "
                 f"{n_prompts / t:.1f} prompts/s, {n_tok / t:.0f} tokens/s, {tf:.1f} TFLOP/s{share}; "
                 f"{b.mem_name} {m:.0f} MB", who=who, seconds=t, prompts_per_s=n_prompts / t, tokens_per_s=n_tok / t,
              tflops=tf, peak_share=tf / b.peak if b.peak else None, memory_mb=m, flops=f)
    b.say(a, f"ours {t_ref / t_ours:.2f} x the naive forward's speed; candidates' relative error against it "
             f"{err:.1e}", speedup=t_ref / t_ours, rel_err=err)
    b.md = ours
    _, _, m0 = b.timed(lambda: diff_in_means(a, b.role[:n0], b.base[:n0], batch_size=bs, progress=False))
    _, _, m1 = b.timed(lambda: diff_in_means(a, b.role, b.base, batch_size=bs, progress=False))
    b.say(a, f"memory with the number of prompts: {b.mem_name} {m0:.0f} MB with {n0} + {n0}, {m1:.0f} MB with "
             f"{len(b.role)} + {len(b.base)} ({m1 - m0:+.0f} MB)", memory_small_mb=m0, memory_large_mb=m1,
          prompts_small=2 * n0, prompts_large=n_prompts)

def part_sweep(b:Bench):
    a, items, bs = b.models["big"], b.items, 32
    md = b.md if b.md is not None else diff_in_means(a, b.role[:32], b.base[:32], progress=False)
    md = md * 4                                   # random weights: scaled, so that steering moves answers
    L, got = a.n_layers, {}
    mean_len = a.tokenize([it["instruction"] for it in items])["attention_mask"].sum(-1).float().mean().item()
    sweep(a, md, items[:4], positions=[-1], layers=[L - 1], ablation=False, batch_size=4, progress=False)  # warm-up
    run = lambda: sweep(a, md, items, positions=b.sizes["sweep_positions"], ablation=False, batch_size=bs,
                        keep_items=True, progress=False, on_score=lambda s: got.__setitem__(s.key, s))
    ours, t_ours, m_ours = b.timed(run)
    n, n_pos = len(ours.rows), len({r.position for r in ours.rows})
    enc = a.tokenize([it["instruction"] for it in items[:bs]])
    trim = trims_exactly(a, enc, block_input(a, enc, L - 1), block_outputs(a, enc))
    b.say(a, "the last block's MLP on the last positions only (`last_mlp_only`): "
             + ("the same bits here, so the sweep used it" if trim else "other bits on this device's kernels, so the "
                "sweep ran the whole block"), last_mlp_trimmed=trim)
    b.say(a, f"ours, addition: {n} candidates ({n_pos} positions x layers {L // 2}-{L - 1}) on {len(items)} questions "
             f"(mean {mean_len:.0f} tokens, batch {bs}) in {t_ours:.1f} s: {n / t_ours:.2f} candidates/s (the baseline "
             f"included); {b.mem_name} {m_ours:.0f} MB", seconds=t_ours, candidates=n, candidates_per_s=n / t_ours,
          memory_mb=m_ours)
    few = [L // 2, (3 * L) // 4, L - 1]
    naive, t_naive, m_naive = b.timed(lambda: naive_sweep(a, md, items, positions=[-1], layers=few, ablation=False,
                                                          batch_size=bs, keep_items=True, progress=False))
    per = t_naive / (len(few) + 1)               # the baseline is one more full pass
    compared, differ, err = same_scores(ours, naive)
    same = differ == 0 and ours.baseline == naive.baseline and ours.baseline_records == naive.baseline_records
    b.check(same, f"{differ} of {compared} addition scores (or the baseline) differ from the naive sweep")
    b.say(a, f"naive (a full forward per candidate), addition: {1 / per:.2f} candidates/s (timed on {len(few)} "
             f"candidates and the baseline); ours {per * n / t_ours:.2f} x faster; scores of {compared} candidates and "
             f"the baseline {'identical' if same else 'DIFFER'} (letter probabilities within {err:.1e}); "
             f"{b.mem_name} {m_naive:.0f} MB", candidates_per_s=1 / per, speedup=per * n / t_ours, differ=differ,
          compared=compared, max_prob_diff=err, memory_mb=m_naive)
    two = [L // 2, L - 1]
    base, done = got[(None, None, None, "baseline")], {k: v for k, v in got.items() if k[3] == "addition"}
    abl, t_abl, m_abl = b.timed(lambda: sweep(a, md, items, positions=[-1], layers=two, batch_size=bs,
                                              progress=False, done=done, baseline=base))
    ref = [ablation_accuracy(a, items, md[-1, l], batch_size=bs, progress=False)[0] for l in two]
    same = b.check([r.ablation_score for r in abl.rows] == ref, "ablation scores differ from ablation_accuracy's")
    b.say(a, f"ablation (a full pass with hooks on every block, attention and MLP, in ours and the naive alike): "
             f"{len(two) / t_abl:.2f} candidates/s on {len(items)} questions; {b.mem_name} {m_abl:.0f} MB",
          candidates_per_s=len(two) / t_abl, memory_mb=m_abl, same_as_naive=same)

def part_generate(b:Bench):
    a, s = b.models["big"], b.sizes
    L, n_new = a.n_layers, s["new_tokens"]
    torch.manual_seed(0)
    vec = (b.md if b.md is not None else torch.randn(a.n_eoi, L, a.d_model))[-1, L // 2]
    kinds = {"unsteered": {}, "addition": dict(vector=vec * 4, layer=L // 2), "ablation": dict(direction=vec)}
    generate(a, b.role[:1], max_new_tokens=2, progress=False)   # warm-up
    for batch in s["gen_batches"]:
        for kind, kw in kinds.items():
            _, t, m = b.timed(lambda: generate(a, b.role[:batch], max_new_tokens=n_new, min_new_tokens=n_new,
                                               batch_size=batch, progress=False, **kw))
            b.say(a, f"{kind}, batch {batch}: {batch * n_new / t:.1f} tokens/s ({n_new} new tokens each, greedy, "
                     f"KV cache, {t:.2f} s); {b.mem_name} {m:.0f} MB", kind=kind, batch=batch,
                  tokens_per_s=batch * n_new / t, seconds=t, memory_mb=m)

def free_big(b:Bench):
    "Drop the 8B model before the parts on the 1B one"
    b.models.pop("big", None); b.md = None
    if b.cuda: torch.cuda.empty_cache()

def ties(res) -> tuple[int, int, float]:
    "(answers of the baseline and of every score, how many are exact ties of the top letters, their 1/k credit)"
    recs = list(res.baseline_records)
    recs += [r for row in res.rows for k in ("addition_items", "ablation_items") for r in (getattr(row, k) or [])]
    tied = [r for r in recs if (r.get("tied") or 1) > 1]
    return len(recs), len(tied), sum(r["credit"] for r in tied) / max(1, len(recs))

def choice(res, n_layers:int, **kw):
    "The selected (position, layer), or None when no candidate passes the filters"
    try: r = select_direction(res.rows, res.baseline, n_layers, **kw)
    except NoCandidateError: return None
    return (r.position, r.layer)

def part_dtype(b:Bench):
    s, label = b.sizes, "small-1B" if b.small else "1B"
    a32 = b.models["f32"] = build(b, label, torch.float32, seed=1)
    a16 = Adapter.from_model(copy.deepcopy(a32.model).to(torch.bfloat16), a32.tokenizer)
    a16.label = label
    n, items, out = s["dtype_prompts"], b.items[:s["dtype_items"]], {}
    for a in (a32, a16):
        md, t_md, _ = b.timed(lambda: diff_in_means(a, b.role[:n], b.base[:n], progress=False))
        res, t_sw, _ = b.timed(lambda: sweep(a, md * 4, items, positions=s["dtype_positions"], keep_items=True,
                                             progress=False))
        out[a.dtype] = (md, res)
        n_ans, n_tied, credit = ties(res)
        b.say(a, f"{len(res.rows)} candidates ({n} + {n} prompts, {len(items)} questions, addition and ablation) in "
                 f"{t_md + t_sw:.1f} s; baseline {res.baseline:.4f}; {n_tied} of {n_ans} answers (the baseline's and "
                 f"every score's) are exact ties of the top letters; their 1/k credit is {credit:.4f} of the mean "
                 "accuracy", seconds=t_md + t_sw, baseline=res.baseline, answers=n_ans, tied=n_tied, tie_credit=credit)
    (md32, r32), (md16, r16) = out[torch.float32], out[torch.bfloat16]
    cmp = lambda k: sum(json.dumps(getattr(x, k)) != json.dumps(getattr(y, k)) for x, y in zip(r32.rows, r16.rows))
    relaxed = dict(prune_layer_percentage=0.0, drop_below_baseline=False)
    sel = {k: (choice(r32, a32.n_layers, **kw), choice(r16, a32.n_layers, **kw))
           for k, kw in (("paper's filters", {}), ("filters relaxed", relaxed))}
    said = "; ".join(f"{k}: {v[1]} vs {v[0]} ({'same' if v[0] == v[1] else 'DIFFERS'})" for k, v in sel.items())
    err = rel_err(md16, md32)
    b.say(a16, f"against float32: candidates' relative error {err:.1e}; addition scores differ for "
               f"{cmp('addition_score')} of {len(r32.rows)} candidates, ablation scores for {cmp('ablation_score')}; "
               f"baseline {r16.baseline:.4f} vs {r32.baseline:.4f}; selected (position, layer), None if no candidate "
               f"passes: {said}", rel_err=err, addition_differ=cmp("addition_score"),
          ablation_differ=cmp("ablation_score"), candidates=len(r32.rows),
          selection={k: [list(x) if x else None for x in v] for k, v in sel.items()})

def half_map(adapter, first, second) -> dict:
    "A `device_map`: the embedding and blocks 0..L/2-1 on `first`, the other blocks, the norm and the head on `second`"
    L = adapter.n_layers
    return {"model.embed_tokens": first, "model.rotary_emb": first,
            **{f"model.layers.{i}": first if i < L // 2 else second for i in range(L)},
            "model.norm": second, "lm_head": second}

def split_check(b:Bench, one, kind:str, device_map:dict, **dispatch_kw):
    "Dispatch a copy of `one` by `device_map`; compare its candidates and sweep with `one`'s; try steered generation"
    from accelerate import dispatch_model
    model = copy.deepcopy(one.model).cpu()
    dispatch_model(model, device_map, skip_keys=getattr(model, "_skip_keys_device_placement", None), **dispatch_kw)
    split = Adapter.from_model(model, one.tokenizer)
    split.label = one.label
    n, items, L = b.sizes["split_prompts"], b.items[:b.sizes["split_items"]], one.n_layers
    md_one = diff_in_means(one, b.role[:n], b.base[:n], progress=False)
    md_split, t_md, _ = b.timed(lambda: diff_in_means(split, b.role[:n], b.base[:n], progress=False))
    err = rel_err(md_split, md_one)
    kw = dict(positions=[-1], layers=[L // 2, L - 1], batch_size=8, keep_items=True, progress=False)
    r_one = sweep(one, md_one * 4, items, **kw)
    with TraceDict(split.model, split.attn_names, retain_output=False) as td:   # the blocks that really ran
        r_split, t_sw, _ = b.timed(lambda: sweep(split, md_one * 4, items, **kw))
    ran = sum(t.calls for t in td.values())
    grid = candidate_grid(md_one, [-1], kw["layers"])
    cost = sweep_cost(len(items), 8, L, grid, grid)   # addition and ablation of each, and the baseline
    compared, differ, perr = same_scores(r_split, r_one)
    same = differ == 0 and r_split.baseline == r_one.baseline
    b.check(err < (1e-5 if one.dtype == torch.float32 else 1e-2) and same,
            f"{kind}: the split model gives other results (relative error {err:.1e}, {differ} scores differ)")
    b.check(ran == cost["blocks"] + 1, f"{kind}: {ran} blocks ran, the prefix-reusing sweep needs {cost['blocks'] + 1}")
    where = {str(d): sum(k.startswith("model.layers.") and v == d for k, v in device_map.items())
             for d in dict.fromkeys(device_map.values())}
    b.say(split, f"{kind}: blocks by device {where}: candidates ({n} + {n} prompts, {t_md:.1f} s) relative error "
                 f"{err:.1e} against one device; sweep ({compared} candidates with ablation, {len(items)} questions, "
                 f"{t_sw:.1f} s, {ran} block passes as on one device): {differ} scores differ, baseline "
                 f"{'same' if r_split.baseline == r_one.baseline else 'DIFFERS'}, letter probabilities within "
                 f"{perr:.1e}",
          kind=kind, rel_err=err, differ=differ, compared=compared, max_prob_diff=perr, blocks_by_device=where,
          block_passes=ran)
    try:
        generate(split, b.role[:1], max_new_tokens=2, vector=md_one[-1, L - 1], layer=L - 1, progress=False)
        b.say(split, f"{kind}: steered generation (a vector added at block {L - 1}, in the second half) runs",
              steered_generation="ok")
    except Exception as e:   # a finding to report, not a failure of this benchmark's checks
        msg = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
        b.say(split, f"{kind}: steered generation with a vector at block {L - 1} fails: {msg}", steered_generation=msg)

def part_split(b:Bench):
    try: import accelerate  # noqa: F401
    except ImportError:
        msg = "bench/gpu.py split: accelerate is not installed (pip install accelerate)"
        report_skip(msg); b.say(None, f"SKIPPED: {msg}", skipped=msg); return
    one = b.models.get("f32") or build(b, "small-1B" if b.small else "1B", torch.float32, seed=1)
    if b.cuda:
        gpu = b.dev.index or 0
        split_check(b, one, "offload", half_map(one, gpu, "cpu"))
        split_check(b, one, "execute", half_map(one, gpu, "cpu"), main_device="cpu")
        return
    msg = "bench/gpu.py split: no GPU, so no model split across a GPU and the CPU (`execute` not run)"
    report_skip(msg); b.say(None, f"SKIPPED: {msg}", skipped=msg)
    folder = tempfile.mkdtemp(prefix="rv-gpu-bench-")
    try: split_check(b, one, "offload (emulated: the second half offloaded to disk)", half_map(one, "cpu", "disk"),
                     offload_dir=folder)
    finally: shutil.rmtree(folder, ignore_errors=True)

def intact(adapter) -> bool:
    "No pass-through left among the blocks and no hook of ours left on the model (a stopped part may leave them)"
    ours = lambda hooks: any(isinstance(getattr(h, "__self__", None), Trace) for h in hooks.values())
    return not any(isinstance(x, PassThrough) for x in adapter.blocks) and \
        not any(ours(m._forward_hooks) or ours(m._forward_pre_hooks) for m in adapter.model.modules())

PARTS = dict(setup=part_setup, extract=part_extract, sweep=part_sweep, generate=part_generate, dtype=part_dtype,
             split=part_split)

def run_part(b:Bench, name:str):
    "Run one part within its budget; record it as done, stopped or failed"
    b.part, t = name, time.perf_counter()
    rec = b.parts[name] = dict(budget_s=b.budgets[name], lines=[], figures=[])
    try:
        with budget(b.budgets[name]): PARTS[name](b)
        rec["status"] = "done"
    except Overrun:
        rec["status"] = "stopped"
        print(f"{b.name} | - | - | {name}: STOPPED after its budget of {b.budgets[name]} s", flush=True)
        if b.small: b.failed.append(f"{name}: stopped after its budget of {b.budgets[name]} s")
    except Exception as e:
        traceback.print_exc()
        rec["status"] = f"failed: {type(e).__name__}: {e}"[:500]
        b.failed.append(f"{name}: {type(e).__name__}: {e}")
    rec["seconds"] = round(time.perf_counter() - t, 2)
    big = b.models.get("big")
    if big is not None and not intact(big):
        print(f"{name}: the 8B model was left with hooks or pass-throughs; the parts after it do not use it",
              flush=True)
        b.models.pop("big")

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="tiny shapes, float32, on the CPU unless --device: the test")
    p.add_argument("--out", default=None, help="the JSON file (default bench/gpu.json; --small: bench/gpu-small.json)")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)} (and setup)")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu (cpu with --small)")
    p.add_argument("--peak_tflops", type=float, default=None, help="the device's dense bf16 peak, if not in the table")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    a = p.parse_args()
    if a.small and a.device is None: a.device = "cpu"
    if a.threads: torch.set_num_threads(a.threads)
    parts = ["setup"] + [x for x in a.parts.split(",") if x and x != "setup"]
    if bad := [x for x in parts if x not in PARTS]: sys.exit(f"unknown parts {bad}; choose from {list(PARTS)}")
    b, t0 = Bench(a), time.perf_counter()
    print(f"bench/gpu.py{' --small' if a.small else ''}: {b.name}, torch {torch.__version__}, transformers "
          f"{transformers.__version__}; parts {', '.join(parts)}; budgets (s) {b.budgets}", flush=True)
    for name in parts:
        if name in ("dtype", "split"): free_big(b)
        if name in ("extract", "sweep", "generate") and "big" not in b.models:
            b.part, b.parts[name] = name, dict(budget_s=b.budgets[name], status="not run: no 8B model", lines=[])
            print(f"{b.name} | - | - | {name}: not run (no 8B model)", flush=True)
            b.failed.append(f"{name}: not run"); continue
        run_part(b, name)
    total = time.perf_counter() - t0
    out = Path(a.out or ROOT/"bench"/("gpu-small.json" if a.small else "gpu.json"))
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    meta = dict(device=b.name, torch=torch.__version__, transformers=transformers.__version__, small=a.small,
                peak_bf16_tflops=b.peak, date=now, seconds=round(total, 1), threads=torch.get_num_threads(),
                tf32_matmul=torch.backends.cuda.matmul.allow_tf32, failed=b.failed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(meta=meta, parts=b.parts), indent=1, default=str) + "\n")
    summary = ", ".join(f"{k} {v['status']} {v.get('seconds', 0):.0f} s" for k, v in b.parts.items())
    print(f"{len(parts)} parts in {total:.0f} s ({summary}); results in {out}")
    if b.failed: print("FAILED: " + "; ".join(b.failed)); return 1
    print("all checks passed")
    return 0

if __name__ == "__main__": sys.exit(main())
