"""Run every test of the project and end with one line `N passed, N failed, N skipped`.

What counts as a test here (each notebook is one test: nbdev runs its cells in order and stops at the first
failing one; the number of cells each ran is printed beside it):
- each notebook under `nbs/` run by nbdev's own `test_nb` (the engine behind `nbdev-test`), cells flagged
  `slow`/`gpu`/`notest` left out as `tst_flags` says;
- "export in sync": `nbdev-export` must leave the committed `role_vectors/` unchanged;
- "notebooks clean": `nbdev-clean` must leave the notebooks unchanged;
- "README in sync": `README.md` must be what `tools/readme.py` writes from `nbs/index.ipynb`;
- "line limit": no line over 120 characters in the code cells of the notebooks under `nbs/`, in `tools/**/*.py`
  or in `bench/*.py` (each one is listed as file:cell:line or file:line; `role_vectors/` is generated from the
  notebooks and markdown cells are prose, so neither is checked); `python tools/run_tests.py --lines` runs only this;
- "GPU bench, small": `bench/gpu.py --small` (the GPU benchmark's code on tiny shapes on the CPU) must pass, so that
  the script a GPU session runs unchanged cannot rot; the parts it cannot run here are reported as skipped;
- "docs check": `tools/docs_check.py` (nbdev's docs processing, every page rendered and opened in a browser);
- each check that a notebook skipped on purpose (for example because `../shared/data` is absent) is
  reported by `role_vectors.testing.report_skip` and counted as skipped, with its reason.
"""
import hashlib, os, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

def _digest(paths):
    "sha256 of each file in `paths`, keyed by path"
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}

def _changed(before, after):
    return sorted(str(p.relative_to(ROOT)) for p in set(before) | set(after) if before.get(p) != after.get(p))

MAX_LINE = 120

def long_lines(limit=MAX_LINE):
    "Every line over `limit` characters: code cells of the notebooks under nbs/, tools/**/*.py, bench/*.py"
    import json
    found = []
    for nb in sorted((ROOT/"nbs").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb.parts: continue
        try: cells = json.loads(nb.read_text())["cells"]
        except Exception as e: found.append(f"{nb.relative_to(ROOT)}: not readable as a notebook ({e})"); continue
        for i, c in enumerate(cells):
            if c.get("cell_type") != "code": continue
            for j, line in enumerate("".join(c["source"]).splitlines(), 1):
                if len(line) > limit: found.append(f"{nb.relative_to(ROOT)}:cell {i}:line {j} ({len(line)} characters)")
    for py in sorted([*(ROOT/"tools").rglob("*.py"), *(ROOT/"bench").glob("*.py")]):
        for j, line in enumerate(py.read_text().splitlines(), 1):
            if len(line) > limit: found.append(f"{py.relative_to(ROOT)}:{j} ({len(line)} characters)")
    return found

def check_lines():
    "The line-limit check: prints ok or FAIL with every long line; True when it passed"
    found = long_lines()
    if not found: print(f"ok   line limit: no line over {MAX_LINE} characters", flush=True); return True
    print(f"FAIL line limit: {len(found)} line(s) over {MAX_LINE} characters (cells are counted from 0 in the "
          "notebook's file, lines from 1)", flush=True)
    for f in found: print(f"       {f}")
    return False

def check_tool(cmd, paths):
    "Run nbdev tool `cmd`; return the files it changed among `paths()`"
    before = _digest(paths())
    r = subprocess.run([str(BIN/cmd)], cwd=ROOT, capture_output=True, text=True)
    if r.returncode: return [f"{cmd} exited {r.returncode}: {r.stderr.strip()[-2000:]}"]
    return _changed(before, _digest(paths()))

def n_cells(nb):
    "How many code cells nbdev's test runner executes in `nb` (flags `slow`/`gpu`/`notest` left out)"
    from nbdev.test import nb_test_cells
    from nbdev.config import get_config
    flags = get_config().tst_flags
    return len(nb_test_cells(nb, flags.split() if isinstance(flags, str) else flags))

def run_nb(nb, skip_log, flags=None):
    "Test one notebook in its own process (so notebooks cannot leak state into each other)"
    env = {**os.environ, "RV_SKIP_LOG": str(skip_log), "PYTHONUNBUFFERED": "1"}
    t = time.time()
    r = subprocess.run([str(BIN/"nbdev-test"), str(nb), "--n-workers", "0", *(["--flags", flags] if flags else [])],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    return nb, r.returncode == 0, time.time() - t, (r.stdout + r.stderr)

def main_only(flags, paths):
    "`--flags F NB...`: run only these notebooks with the cells flagged F too (the real-model lane)"
    skip_log = Path(tempfile.mkdtemp(prefix="rv-test-run-"))/"skips.txt"
    passed = failed = 0
    for p in paths:
        nb, ok, secs, out = run_nb(ROOT/p, skip_log, flags)
        if ok: passed += 1; print(f"ok   {p} (cells flagged {flags!r} included, {secs:.0f}s)", flush=True)
        else: failed += 1; print(f"FAIL {p} ({secs:.0f}s)\n{out[-6000:]}", flush=True)
    skips = skip_log.read_text().splitlines() if skip_log.exists() else []
    for s in skips: print(f"SKIP {s}")
    shutil.rmtree(skip_log.parent, ignore_errors=True)
    print(f"{passed} passed, {failed} failed, {len(skips)} skipped")
    return 1 if failed else 0

def main():
    if "-h" in sys.argv or "--help" in sys.argv: print(__doc__); return 0
    if "--lines" in sys.argv: return 0 if check_lines() else 1
    if "--flags" in sys.argv:
        i = sys.argv.index("--flags")
        return main_only(sys.argv[i + 1], sys.argv[i + 2:])
    passed, failed, failures = 0, 0, []
    lib = lambda: sorted((ROOT/"role_vectors").rglob("*.py"))
    nbs = lambda: sorted((ROOT/"nbs").rglob("*.ipynb"))
    for name, cmd, paths in [("export in sync", "nbdev-export", lib), ("notebooks clean", "nbdev-clean", nbs)]:
        changed = check_tool(cmd, paths)
        if changed:
            failed += 1; failures.append(name)
            print(f"FAIL {name}: {cmd} changed {changed} -- run `make export` and commit the result")
        else: passed += 1; print(f"ok   {name}", flush=True)
    r = subprocess.run([sys.executable, str(ROOT/"tools"/"readme.py"), "--check"], cwd=ROOT,
                       capture_output=True, text=True)
    if r.returncode: failed += 1; failures.append("README in sync"); print(f"FAIL README in sync: {r.stdout.strip()}")
    else: passed += 1; print("ok   README in sync with nbs/index.ipynb")
    if check_lines(): passed += 1
    else: failed += 1; failures.append("line limit")
    notebooks = [p for p in nbs() if ".ipynb_checkpoints" not in p.parts]
    tmp_before = set(os.listdir(tempfile.gettempdir()))
    skip_log = Path(tempfile.mkdtemp(prefix="rv-test-run-"))/"skips.txt"
    workers = int(os.environ.get("RV_TEST_WORKERS", min(2, os.cpu_count() or 1)))
    cells = {nb: n_cells(nb) for nb in notebooks}
    print(f"running {len(notebooks)} notebooks, {workers} at a time; each is printed as it finishes", flush=True)
    with ThreadPoolExecutor(workers) as ex:   # slowest first, so the run ends sooner; results printed as they finish
        futs = [ex.submit(run_nb, p, skip_log) for p in sorted(notebooks, key=lambda p: -cells[p])]
        for fut in as_completed(futs):
            nb, ok, secs, out = fut.result()
            rel = nb.relative_to(ROOT)
            if ok: passed += 1; print(f"ok   {rel} ({cells[nb]} cells, {secs:.0f}s)", flush=True)
            else:
                failed += 1; failures.append(str(rel))
                print(f"FAIL {rel} ({secs:.0f}s)\n{out[-6000:]}", flush=True)
    t = time.time()   # the GPU benchmark's small mode, on the CPU: the script a GPU session runs must not rot
    out = Path(tempfile.mkdtemp(prefix="rv-gpu-small-"))
    r = subprocess.run([sys.executable, str(ROOT/"bench"/"gpu.py"), "--small", "--out", str(out/"gpu-small.json")],
                       cwd=ROOT, env={**os.environ, "RV_SKIP_LOG": str(skip_log)}, capture_output=True, text=True)
    shutil.rmtree(out, ignore_errors=True)
    if r.returncode:
        failed += 1; failures.append("GPU bench, small")
        print(f"FAIL GPU bench, small\n{r.stdout[-6000:]}{r.stderr[-2000:]}", flush=True)
    else: passed += 1; print(f"ok   GPU bench, small ({time.time() - t:.0f}s): "
                             f"{r.stdout.strip().splitlines()[-2]}", flush=True)
    t = time.time()   # the offline docs check: nbdev's processing, nbconvert, headless Chromium (tools/docs_check.py)
    r = subprocess.run([sys.executable, str(ROOT/"tools"/"docs_check.py")], cwd=ROOT,
                       env={**os.environ, "RV_SKIP_LOG": str(skip_log)}, capture_output=True, text=True)
    if r.returncode:
        failed += 1; failures.append("docs check")
        print(f"FAIL docs check\n{r.stdout[-6000:]}{r.stderr[-2000:]}", flush=True)
    else:    # docs_check.py's last line names itself and its time: "docs check (Ns): N passed, ..."
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "docs check"
        passed += 1; print(f"ok   {last}", flush=True)
    skips = skip_log.read_text().splitlines() if skip_log.exists() else []
    shutil.rmtree(skip_log.parent, ignore_errors=True)
    left = sorted(set(os.listdir(tempfile.gettempdir())) - tmp_before)
    if left: print(f"note: {len(left)} entries left in {tempfile.gettempdir()} by the tests: {left[:10]}")
    for s in skips: print(f"SKIP {s}")
    if failures: print("failed: " + ", ".join(failures))
    print(f"{len(notebooks)} notebooks, {sum(cells.values())} code cells run as tests; 4 repository checks "
          f"(export in sync, notebooks clean, README in sync, line limit: {MAX_LINE} characters), the small GPU bench "
          "and the docs check")
    print(f"{passed} passed, {failed} failed, {len(skips)} skipped")
    return 1 if failed else 0

if __name__ == "__main__": sys.exit(main())
