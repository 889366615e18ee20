"""Greedy generation with top-k logprobs in vLLM, for prompts given as token ids; run it with vLLM's own Python:

    VLLM_CPU_KVCACHE_SPACE=1 <vLLM venv>/bin/python tools/interop/vllm_generate.py MODEL_DIR IN.json OUT.json

IN.json: {"prompts": [[token ids], ...], "n_new": 8, "logprobs": 5}
OUT.json: {"engine_start_s": s, "generate_s": s,
           "outputs": [{"tokens": [...], "logprobs": [{token id: logprob} per step]}]}
The engine runs in float32, eagerly, on the CPU (what the interop lane compares with transformers)."""
import json, sys, time

def main():
    model, src, dst = sys.argv[1:4]
    job = json.load(open(src))
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    t = time.time()
    llm = LLM(model=model, dtype="float32", enforce_eager=True, max_model_len=512, max_num_seqs=8, seed=0)
    start = time.time() - t
    sp = SamplingParams(temperature=0, max_tokens=job["n_new"], logprobs=job.get("logprobs", 5), ignore_eos=True)
    t = time.time()
    outs = llm.generate([TokensPrompt(prompt_token_ids=p) for p in job["prompts"]], sp)
    gen = time.time() - t
    res = [dict(tokens=list(o.outputs[0].token_ids),
                logprobs=[{str(k): v.logprob for k, v in step.items()} for step in o.outputs[0].logprobs])
                for o in outs]
    json.dump(dict(engine_start_s=round(start, 1), generate_s=round(gen, 2), outputs=res), open(dst, "w"))

if __name__ == "__main__":   # vLLM starts its engine in another process: the guard is required
    main()
