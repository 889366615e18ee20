"""Build the bundled demo model `data/demo_model/` from the project's own demo text.

The demo model is a smoke-test model, not a language model anyone should study: a byte-level BPE
tokenizer trained on the prompts in `data/demo/` and a tiny Llama-architecture decoder (8 blocks,
d_model 64) trained for a few hundred steps on the same prompts, so that its activations carry some
structure and its generations look like words. It exists so that `make demo` and the tests run
offline in seconds. Rebuild with `.venv/bin/python tools/build_demo_model.py` (deterministic on CPU).
"""
import json, random, sys
from pathlib import Path
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parent.parent
DATA, OUT = ROOT/"data"/"demo", ROOT/"data"/"demo_model"

# Llama 3's chat format, our own template text. Special tokens of other families are in the vocabulary
# too, so tests can switch the template and check the post-instruction tokens of several formats.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] | trim }}<|eot_id|>"
    "{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
            "<|pad|>", "<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "[INST]", "[/INST]",
            "<|user|>", "<|assistant|>", "<|end|>"]

def corpus():
    "Every instruction in the demo data, plus short answers so letters and digits are in the vocabulary"
    texts = []
    for f in sorted((DATA/"splits").glob("*.json")):
        texts += [r["instruction"] for r in json.loads(f.read_text())]
    if not texts: sys.exit(f"no demo data under {DATA}/splits: write it first")
    texts += [f"Answer: {l}" for l in "ABCD"] + [str(i) for i in range(100)]
    return texts

def build_tokenizer(texts, vocab_size=1024):
    # the chat formats' words ("assistant", "model", "\n\n") must be whole tokens, as in real vocabularies
    wrapped = [f"<|start_header_id|>user<|end_header_id|>\n\n{t}<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n"
               f"<|im_start|>user\n{t}<|im_end|>\n<|im_start|>assistant\n"
               f"<start_of_turn>user\n{t}<end_of_turn>\n<start_of_turn>model\n"
               for t in texts]
    texts = texts + wrapped
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                   pad_token="<|pad|>", padding_side="left", chat_template=CHAT_TEMPLATE,
                                   model_max_length=512)
    return fast

def build_model(tok, seed=0):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=192, num_hidden_layers=8,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      tie_word_embeddings=False, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, rms_norm_eps=1e-5)
    return LlamaForCausalLM(cfg)

def train(model, tok, texts, steps=300, batch=32, lr=3e-3, seed=0):
    "A few hundred steps of next-token prediction on the chat-formatted prompts"
    rng = random.Random(seed)
    chats = [tok.apply_chat_template([{"role": "user", "content": t}], tokenize=False) for t in texts]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    for step in range(steps):
        enc = tok(rng.sample(chats, min(batch, len(chats))), return_tensors="pt", padding=True,
                  add_special_tokens=False)
        labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
        pos = (enc.attention_mask.cumsum(-1) - 1).clamp(min=0)
        loss = model(**enc, position_ids=pos, labels=labels).loss
        opt.zero_grad(); loss.backward(); opt.step()
        if step % 100 == 0 or step == steps - 1: print(f"step {step:4d} loss {loss.item():.3f}")
    model.eval()
    return model

def main():
    torch.set_num_threads(2)
    texts = corpus()
    tok = build_tokenizer(texts)
    model = train(build_model(tok), tok, texts)
    OUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(OUT)
    tok.save_pretrained(OUT)
    (OUT/"README.md").write_text(
        "# Demo model\n\nA tiny random-initialised Llama-architecture chat model (8 blocks, d_model 64, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters) with a BPE tokenizer trained on the project's own "
        "demo prompts, briefly trained on them. **A smoke-test model, not a real LLM**: it exists so that "
        "`make demo` and the tests run offline in seconds. Built by `tools/build_demo_model.py`.\n")
    print(f"wrote {OUT}: vocab {len(tok)}, {sum(f.stat().st_size for f in OUT.iterdir())/1e6:.2f} MB")

if __name__ == "__main__": main()
