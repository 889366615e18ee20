"""Re-execute notebooks and save their outputs, so the docs pages show values, tables and plots (`make docs`).

    python tools/save_outputs.py                      # every notebook under nbs/
    python tools/save_outputs.py nbs/10_explore.ipynb nbs/tutorials/explore.ipynb --jobs 2

Each notebook runs top to bottom in a fresh Jupyter kernel of this Python, from its own folder (as `nbdev-test`
runs it). Cells that `nbdev-test` leaves out (flagged `slow`, `gpu`, `notest` -- the project's `tst_flags` -- or
`#| eval: false`) are not run and keep the outputs they had, so the output of a GPU cell run once by hand stays.
A notebook whose cell fails is left unchanged, and the script exits 1.

The saved outputs are made deterministic: one thread (`OMP_NUM_THREADS=1`), no progress bars (`TQDM_DISABLE`),
widget ids renumbered from the notebook's name, only the widget state that a displayed widget needs, memory
addresses and random temporary-folder names scrubbed, progress-bar text on stderr dropped; then `nbdev-clean`
is applied, so a later `nbdev-clean` leaves the file unchanged.
"""
import argparse, hashlib, json, os, re, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1", "PYTHONHASHSEED": "0",
       "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false"}

def skip_flags() -> set:
    "The cell flags `nbdev-test` skips by default (`tst_flags`), plus `notest`"
    from nbdev.config import get_config
    f = get_config().tst_flags
    return set(f.split() if isinstance(f, str) else f) | {"notest"}

def skipped(cell, flags) -> bool:
    "Whether `nbdev-test` would leave this code cell out"
    for line in "".join(cell.source).splitlines():
        m = re.match(r"\s*#\|\s*(.*)", line)
        if not m: continue
        d = m.group(1).strip()
        if d in flags or re.fullmatch(r"eval:\s*false", d, re.I): return True
    return False

# ---- deterministic outputs
_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")
_TMP = re.compile(re.escape(tempfile.gettempdir()) + r"/([A-Za-z0-9_.-]*?)[a-z0-9_]{8}(?![A-Za-z0-9_.-])")
_BAR = re.compile(r"(\d+%\|)|(it/s\])|(s/it\])|(\r)")
_PORT = re.compile(r"\b(127\.0\.0\.1|localhost):\d{2,5}\b")

def scrub(text: str) -> str:
    "Memory addresses, random temporary-folder names and local server ports out of an output text"
    text = _PORT.sub(r"\1:PORT", _ADDR.sub("", text))
    return _TMP.sub(lambda m: f"{tempfile.gettempdir()}/{m.group(1)}…", text)

def _text(x): return "".join(x) if isinstance(x, list) else x

def clean_outputs(cell):
    "Join consecutive stream outputs (their split depends on timing), drop progress-bar stderr, scrub the texts"
    merged = []
    for o in cell.get("outputs", []):
        if (o.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1]["name"] == o["name"]):
            merged[-1]["text"] = _text(merged[-1]["text"]) + _text(o.get("text", ""))
        else: merged.append(o)
    outs = []
    for o in merged:
        if o.get("output_type") == "stream":
            t = _text(o.get("text", ""))
            if o.get("name") == "stderr":
                t = "\n".join(l for l in t.splitlines() if not _BAR.search(l))
                if not t.strip(): continue
            o["text"] = scrub(t)
        for k, v in list(o.get("data", {}).items()):
            if k.startswith("text/"): o["data"][k] = scrub(_text(v))
        outs.append(o)
    cell["outputs"] = outs

def _refs(obj) -> list:
    "Widget ids referenced (`IPY_MODEL_<id>`) in `obj`, in a deterministic order (keys sorted, lists in order)"
    return list(dict.fromkeys(re.findall(r"IPY_MODEL_([0-9a-f]{32})", json.dumps(obj, sort_keys=True))))

def tidy_widgets(nb, name: str):
    "Keep only the widget state the displayed views need; renumber ids deterministically from `name`"
    meta = nb.metadata.get("widgets", {}).get(WIDGET_STATE)
    views = [o["data"][WIDGET_VIEW]["model_id"] for c in nb.cells for o in c.get("outputs", [])
             if WIDGET_VIEW in o.get("data", {})]
    if not meta:
        nb.metadata.pop("widgets", None); return
    state, keep, todo = meta.get("state", {}), [], list(views)
    while todo:
        i = todo.pop(0)
        if i in keep or i not in state: continue
        keep.append(i); todo += _refs(state[i])
    if not keep:
        nb.metadata.pop("widgets", None); return
    meta["state"] = {i: state[i] for i in keep}
    new = {old: hashlib.md5(f"{name}:{n}".encode()).hexdigest() for n, old in enumerate(keep)}
    blob = json.dumps({"cells": [c.get("outputs", []) for c in nb.cells], "state": meta["state"]})
    blob = re.sub(r"[0-9a-f]{32}", lambda m: new.get(m.group(0), m.group(0)), blob)
    import nbformat
    back = json.loads(blob)
    for c, outs in zip(nb.cells, back["cells"]):
        if c.cell_type == "code": c.outputs = [nbformat.from_dict(o) for o in outs]
    meta["state"] = back["state"]

# ---- execution
def execute(path: Path, timeout: int = 900) -> tuple[bool, str]:
    "Run one notebook and save it with its outputs; (ok, message)"
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(path, as_version=4)
    flags, t = skip_flags(), time.time()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False, store_widget_state=True,
                            record_timing=False, resources={"metadata": {"path": str(path.parent)}})
    n = 0
    try:
        with client.setup_kernel(env={**os.environ, **ENV}, cwd=str(path.parent)):
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or skipped(cell, flags): continue
                client.execute_cell(cell, i); n += 1
            client.set_widgets_metadata()
    except CellExecutionError as e:
        return False, f"{path}: a cell failed; the notebook is left unchanged\n{str(e)[-3000:]}"
    for cell in nb.cells:
        if cell.cell_type == "code" and not skipped(cell, flags): clean_outputs(cell)
    tidy_widgets(nb, path.stem)
    nbformat.write(nb, path)
    from nbdev.clean import nbdev_clean
    nbdev_clean(fname=str(path))
    return True, (f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {n} cells run in "
                  f"{time.time() - t:.0f}s")

def notebooks(args) -> list[Path]:
    if args: return [Path(a).resolve() for a in args]
    return sorted(p for p in (ROOT/"nbs").rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and "_proc" not in p.parts)

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks to run (default: every notebook under nbs/)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="notebooks run at once")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    a = ap.parse_args(argv)
    os.chdir(ROOT)
    with ThreadPoolExecutor(a.jobs) as ex:
        res = list(ex.map(lambda p: execute(p, a.timeout), notebooks(a.notebooks)))
    for ok, msg in res: print(("ok   " if ok else "FAIL ") + msg, flush=True)
    return 0 if all(ok for ok, _ in res) else 1

if __name__ == "__main__": sys.exit(main())
