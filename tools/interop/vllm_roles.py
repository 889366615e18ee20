"""Per-request role vectors in vLLM's Python API (the role-vectors plugin): one mixed batch, unknown roles, and the
prefix cache; run it with vLLM's own Python, role-vectors installed beside it:

    ROLE_VECTORS_ROLES=CARDS VLLM_CPU_KVCACHE_SPACE=1 \\
        <vLLM venv>/bin/python tools/interop/vllm_roles.py MODEL IN.json OUT.json

IN.json: {"requests": [{"ids": [...], "role": NAME or null, "coeff": C or null}], "long": [[ids], [ids]], "role": NAME,
          "n_new": 8}
OUT.json: {"engine_start_s", "generate_s", "outputs": [{"tokens", "logprobs"}] (one per request, in order),
           "unknown_role": the error, "cache": {...}: the unsteered answer to a long prompt after a steered one, with
           the plugin's salt and without it, and how many prompt tokens each took from the prefix cache}"""
import json, sys, time

def result(o):
    c = o.outputs[0]
    return dict(tokens=list(c.token_ids), logprobs=[{str(k): v.logprob for k, v in s.items()} for s in c.logprobs],
                cached_tokens=o.num_cached_tokens)

def main():
    model, src, dst = sys.argv[1:4]
    job = json.load(open(src))
    from vllm import LLM, SamplingParams
    from role_vectors.serve import steered_request
    t = time.time()
    llm = LLM(model=model, dtype="float32", enforce_eager=True, max_model_len=512, max_num_seqs=8, seed=0,
              block_size=32)
    start = time.time() - t
    kw = dict(temperature=0, max_tokens=job["n_new"], logprobs=5, ignore_eos=True)
    reqs = [steered_request(r["ids"], r["role"], r["coeff"], **kw) for r in job["requests"]]
    t = time.time(); outs = llm.generate([p for p, _ in reqs], [s for _, s in reqs], use_tqdm=False)
    gen = time.time() - t
    res = dict(engine_start_s=round(start, 1), generate_s=round(gen, 2), outputs=[result(o) for o in outs])
    try: llm.generate([{"prompt_token_ids": job["requests"][0]["ids"]}],
                      SamplingParams(**kw, extra_args={"role": "no-such-role"})); res["unknown_role"] = None
    except Exception as e: res["unknown_role"] = f"{type(e).__name__}: {e}"   # vLLM wraps our ValueError
    (a, b), role = job["long"], job["role"]
    one = lambda ids, r=None, raw=False: result(llm.generate(*(
        ([{"prompt_token_ids": ids}], [SamplingParams(**kw, extra_args={"role": r})]) if raw else
        [[x] for x in steered_request(ids, r, **kw)]), use_tqdm=False)[0])
    res["cache"] = dict(salted=dict(steered=one(a, role), unsteered_after=one(a), steered_again=one(a, role)),
                        unsalted=dict(steered=one(b, role, raw=True), unsteered_after=one(b)))
    json.dump(res, open(dst, "w"))

if __name__ == "__main__":   # vLLM starts its engine in another process: the guard is required
    main()
