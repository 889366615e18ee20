"""Check the docs site offline, where Quarto cannot be installed: nbdev's own processing, then every page in a browser.

    python tools/docs_check.py [--screens DIR] [--site DIR] [--no-install] [--verbose]

1. nbdev's own docs processing, `nbdev.serve.proc_nbs` (what `nbdev-docs` and `nbdev-proc-nbs` run before Quarto),
   on a copy of `nbs/` and `pyproject.toml` in a temporary folder. A notebook whose processing fails is reported
   (notebook, cell, error) and left out, and the others are processed.
2. Each processed page is rendered to HTML with nbconvert, under the file name nbdev gives it (`output-file`),
   with the sidebar of `nbs/_quarto.yml` on every page, Quarto's heading ids, `.ipynb` links and links to the
   site's own URL made local, and ipywidgets' embedding (the html-manager from the npm registry, cached).
3. Checks: no error output, stderr or traceback in any page; every name in each module's `__all__` has its
   documentation entry (the page and anchor of `_modidx.py`); every link between pages resolves (file and
   anchor; the sidebar included); every image loads and no script fails, as headless Chromium sees the page.
4. With `--screens DIR`, screenshots of the index page and of the explorer (a page holding only its widget).

Chromium is Debian's `chromium`; when it is missing the script installs it if it runs as root with apt-get
(unless `--no-install`), and otherwise skips the browser checks, reporting the skip like
`role_vectors.testing.report_skip` (a `SKIPPED:` line, and a line in `$RV_SKIP_LOG` for the test runner).
The last line is `docs check: N passed, N failed, N skipped`; the exit code is 1 when a check failed.
"""
import argparse, contextlib, html, importlib, json, os, re, shutil, subprocess, sys, tarfile, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--hide-scrollbars"]
WIDGET_STATE, WIDGET_VIEW = "application/vnd.jupyter.widget-state+json", "application/vnd.jupyter.widget-view+json"

class Report:
    "Checks that passed, failed or were skipped, printed as they come"
    def __init__(self, verbose=False): self.passed, self.failed, self.skipped, self.verbose = [], [], [], verbose
    def ok(self, name, detail=""):
        self.passed.append(name); print(f"ok   {name}{': ' + detail if detail else ''}", flush=True)
    def fail(self, name, problems):
        self.failed.append(name)
        print(f"FAIL {name}: {len(problems)} problem(s)", flush=True)
        for p in problems[:60]: print(f"       {p}")
        if len(problems) > 60: print(f"       ... and {len(problems) - 60} more")
    def check(self, name, problems, detail=""):
        (self.fail(name, problems) if problems else self.ok(name, detail))
    def skip(self, reason):
        self.skipped.append(reason)
        try:
            sys.path.insert(0, str(ROOT)); from role_vectors.testing import report_skip
            report_skip(reason)
        except Exception:
            print(f"SKIPPED: {reason}")
            if os.environ.get("RV_SKIP_LOG"):
                with open(os.environ["RV_SKIP_LOG"], "a") as f: f.write(reason + "\n")

# ---------------------------------------------------------------- 1. nbdev's processing
def stage(tmp: Path) -> Path:
    "A copy of nbs/ and pyproject.toml, so processing writes its cache (`_proc/`) there and not in the work tree"
    shutil.copy2(ROOT/"pyproject.toml", tmp/"pyproject.toml")
    shutil.copytree(ROOT/"nbs", tmp/"nbs",
                    ignore=shutil.ignore_patterns("_proc", "_docs", ".ipynb_checkpoints", "sidebar.yml"))
    return tmp/"nbs"

def nb_title(path: Path) -> str | None:
    "The H1 of a notebook (nbdev's page title)"
    try: cells = json.loads(path.read_text())["cells"]
    except Exception: return None
    for c in cells:
        if c["cell_type"] == "markdown":
            m = re.match(r"\s*#\s+(.+)", "".join(c["source"]))
            if m: return m.group(1).strip()
    return None

@contextlib.contextmanager
def fd_capture(path: Path):
    "Send this process's and its children's stdout and stderr to `path` (nbdev's workers print there)"
    sys.stdout.flush(); sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "w") as f:
        os.dup2(f.fileno(), 1); os.dup2(f.fileno(), 2)
        try: yield
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os.dup2(saved[0], 1); os.dup2(saved[1], 2)
            for s in saved: os.close(s)

def process(nbs: Path, workers: int, log: Path) -> tuple[Path, list]:
    "Run `proc_nbs` until every notebook that can be processed is; the failures as (notebook, cell, error)"
    from nbdev.serve import proc_nbs
    titles = {p: nb_title(p) for p in nbs.rglob("*.ipynb")}
    failed, cache = [], None
    scratch = log.parent/"scratch"; scratch.mkdir(exist_ok=True)
    os.environ["TMPDIR"] = str(scratch)     # nbdev's workers run cells that may make temporary folders: keep them here
    while True:
        rx = "^(?!(" + "|".join(re.escape(p.name) for p, _, _ in failed) + r")$)" if failed else ""
        try:
            with fd_capture(log): cache = proc_nbs(str(nbs), n_workers=workers, force=not failed, file_re=rx)
            return cache, failed
        except Exception as e:
            msg = str(e)
            m = re.search(r"Error in notebook: (.*?) in cell (\d+)", msg)
            hit = [p for p, t in titles.items() if m and t == m.group(1) and p not in [f[0] for f in failed]]
            if not hit: raise
            last = [l for l in msg.strip().splitlines() if l.strip()][-1]
            failed.append((hit[0], int(m.group(2)), last))

# ---------------------------------------------------------------- 2. render
def pandoc_id(text: str) -> str:
    "The id Pandoc (so Quarto) gives a heading"
    t = re.sub(r"[^\w\s.-]", "", text).strip()
    t = re.sub(r"\s+", "-", t).lower()
    return re.sub(r"^[^a-z]+", "", t) or "section"

def frontmatter(nb) -> dict:
    import yaml
    c = nb.cells[0] if nb.cells else None
    if c is not None and c.cell_type == "raw" and c.source.lstrip().startswith("---"):
        return yaml.safe_load(c.source.strip().strip("-")) or {}
    return {}

_DIRECTIVE = re.compile(r"^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")

def sanitize(nb):
    "A processed notebook as nbconvert accepts it, with Quarto's cell options (echo, output, include) applied"
    import nbformat
    keep = {"code": {"id", "cell_type", "metadata", "source", "outputs", "execution_count"},
            "markdown": {"id", "cell_type", "metadata", "source", "attachments"},
            "raw": {"id", "cell_type", "metadata", "source"}}
    cells = []
    fm = frontmatter(nb)
    if fm: nb.cells = nb.cells[1:]
    if fm.get("title"):      # Quarto's title block, from the front matter nbdev made of the H1 and its summary
        head = f"# {fm['title']}" + (f"\n\n*{fm['description']}*" if fm.get("description") else "")
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(head))
    for c in nb.cells:
        for k in list(c):
            if k not in keep[c.cell_type]: del c[k]
        c.metadata = {}
        if c.cell_type == "code":
            lines, opts = c.source.splitlines(), {}
            for l in lines:
                m = _DIRECTIVE.match(l)
                if m: opts[m.group(1)] = m.group(2).lower()
            c.source = "\n".join(l for l in lines if not _DIRECTIVE.match(l)).strip("\n")
            if opts.get("include") == "false": continue
            tags = []
            if opts.get("echo") == "false" or not c.source: tags.append("remove_input")
            if opts.get("output") == "false": tags.append("remove_output")
            c.metadata["tags"] = tags
        if c.cell_type in ("markdown", "code"):
            fix = lambda s: re.sub(r"^:::.*$", "", re.sub(r"(\]\([^)]*\))\{[^}]*\}", r"\1", s), flags=re.M)
            if c.cell_type == "markdown": c.source = fix(c.source)
            for o in c.get("outputs", []):
                if "text/markdown" in o.get("data", {}): o["data"]["text/markdown"] = fix(o["data"]["text/markdown"])
        cells.append(c)
    nb.cells = cells
    nbformat.validate(nb, relax_add_props=True)
    return nb

CHECK_JS = """<script>
window.__rvErrors = [];
window.addEventListener('error', e => window.__rvErrors.push(String(e.message || (e.target && e.target.src) || e)));
window.addEventListener('load', () => setTimeout(() => {
  const imgs = [...document.images];
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                  .map(i => (i.getAttribute('src') || '').slice(0, 90));
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  const shown = document.querySelectorAll('.jupyter-widgets, .widget-box, .widget-inline-hbox, .widget-image').length;
  const pre = document.createElement('pre'); pre.id = 'rv-check'; pre.style.display = 'none';
  pre.textContent = JSON.stringify({images: imgs.length, bad, errors: window.__rvErrors, views, shown});
  document.body.appendChild(pre);
}, 1500));
</script>"""

SIDEBAR_CSS = """<style>
#rv-sidebar {position: fixed; top: 0; left: 0; bottom: 0; width: 230px; overflow-y: auto; padding: 14px 10px;
  background: #f7f7f9; border-right: 1px solid #ddd; font: 13px/1.45 system-ui, sans-serif; z-index: 10}
#rv-sidebar a {display: block; color: #2c5aa0; text-decoration: none; padding: 1px 4px}
#rv-sidebar a.active {background: #dde6f5; border-radius: 3px}
#rv-sidebar .sec {margin: 10px 0 2px; font-weight: 600; color: #555}
#rv-sidebar .site {font-size: 16px; font-weight: 700; margin-bottom: 8px}
body {margin-left: 250px !important}
</style>"""

def sidebar_entries(contents, out):
    "Flatten the sidebar of `_quarto.yml`: ('section', title) and ('link', source path) entries"
    for item in contents or []:
        if isinstance(item, str): out.append(("link", item))
        elif isinstance(item, dict):
            if "section" in item:
                out.append(("section", item["section"]))
                if item.get("href"): out.append(("link", item["href"]))
                sidebar_entries(item.get("contents"), out)
            elif "href" in item: out.append(("link", item["href"]))
    return out

def out_name(src_rel: str) -> str:
    "nbdev's page name for a notebook path relative to nbs/ (as `FrontmatterProc` writes `output-file`)"
    p = Path(src_rel)
    name = "index.html" if p.name.startswith("index.") else re.sub(r"^\d+[a-zA-Z0-9]*_", "", p.name.lower())
    return str(p.with_name(Path(name).with_suffix(".html").name))

def relpath(target: str, page: str) -> str:
    return os.path.relpath(target, os.path.dirname(page) or ".").replace(os.sep, "/")

class Site:
    "The rendered pages: name -> html, the source -> page map, and what each page needs checked"
    def __init__(self, proc: Path, nbs_src: Path, site_url: str, quarto: dict, widget_js: dict | None):
        self.proc, self.src, self.site_url, self.quarto, self.widget_js = (proc, nbs_src, site_url.rstrip("/"), quarto,
                                                                           widget_js)
        self.pages, self.page_of, self.titles, self.nbs = {}, {}, {}, {}

    def load(self):
        import nbformat
        for p in sorted(self.proc.rglob("*.ipynb")):
            rel = str(p.relative_to(self.proc))
            nb = nbformat.read(p, as_version=4)
            fm = frontmatter(nb)
            page = str(Path(rel).with_name(fm.get("output-file") or out_name(rel)))
            self.page_of[rel], self.titles[page], self.nbs[page] = page, fm.get("title") or Path(rel).stem, nb

    def link_target(self, src_rel: str) -> str:
        return self.page_of.get(src_rel) or out_name(src_rel)

    def sidebar(self, page: str) -> str:
        items = sidebar_entries(((self.quarto.get("website") or {}).get("sidebar") or {}).get("contents"), [])
        parts = ['<nav id="rv-sidebar">'
                 f'<div class="site">{html.escape((self.quarto.get("website") or {}).get("title") or "docs")}</div>']
        for kind, v in items:
            if kind == "section": parts.append(f'<div class="sec">{html.escape(v)}</div>')
            else:
                tgt = self.link_target(v)
                cls = ' class="active"' if tgt == page else ""
                parts.append(f'<a{cls} href="{relpath(tgt, page)}">'
                             f'{html.escape(self.titles.get(tgt, Path(v).stem))}</a>')
        return "".join(parts) + "</nav>"

    def fix_url(self, url: str, page: str, src_dir: str) -> str:
        "Links to the site itself and to source notebooks made local; other URLs unchanged"
        if self.site_url and url.startswith(self.site_url + "/"):
            return relpath(url[len(self.site_url) + 1:] or "index.html", page)
        if re.match(r"^[a-z][a-z0-9+.-]*:", url, re.I) or url.startswith(("#", "/")): return url
        path, _, anchor = url.partition("#")
        if path.endswith((".ipynb", ".qmd")):
            src = os.path.normpath(os.path.join(src_dir, path)).replace(os.sep, "/")
            return relpath(self.link_target(src), page) + ("#" + anchor if anchor else "")
        return url

    def render(self, page: str, exporter) -> str:
        nb = sanitize(self.nbs[page])
        body, _ = exporter.from_notebook_node(nb)
        seen = {}
        def heading(m):
            text = html.unescape(re.sub(r"<[^>]+>", "", m.group(3))).replace("¶", "").strip()
            hid = pandoc_id(text)
            n = seen.get(hid, 0); seen[hid] = n + 1
            hid = hid if n == 0 else f"{hid}-{n}"
            inner = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', "", m.group(3))
            attrs = re.sub(r'\sid="[^"]*"', "", m.group(2))
            return f'<h{m.group(1)}{attrs} id="{hid}">{inner}</h{m.group(1)}>'
        body = re.sub(r"<h([1-6])([^>]*)>(.*?)</h\1>", heading, body, flags=re.S)
        src_dir = os.path.dirname([s for s, p in self.page_of.items() if p == page][0])
        body = re.sub(r'(\s(?:href|src)=")([^"]*)(")',
                      lambda m: m.group(1) + self.fix_url(html.unescape(m.group(2)), page, src_dir)
                      .replace('"', "%22") + m.group(3), body)
        body = body.replace("<head>", "<head>\n" + CHECK_JS, 1)
        body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + SIDEBAR_CSS + self.sidebar(page), body, count=1)
        return body

def exporter(widget_js: dict | None):
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {"remove_input"}
    c.TagRemovePreprocessor.remove_all_outputs_tags = {"remove_output"}
    c.HTMLExporter.exclude_anchor_links = False
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    if widget_js:
        c.HTMLExporter.require_js_url = widget_js["require"]
        c.HTMLExporter.widget_renderer_url = widget_js["embed_amd"]
    return HTMLExporter(template_name="lab", config=c)

# ---------------------------------------------------------------- widgets' embedding (npm)
def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home()/".cache")/"role-vectors"/"docs-check"

def html_manager(site: Path) -> tuple[dict | None, str]:
    "The widget manager's scripts copied into `site` (fetched once with npm into the cache); (urls, why not)"
    import ipywidgets._version as v
    want = f"@jupyter-widgets/html-manager@{v.__html_manager_version__}"
    cache = cache_dir()
    dist, req = cache/"html-manager"/"dist", cache/"requirejs"/"require.js"
    if not (dist/"embed-amd.js").is_file() or not req.is_file():
        npm = shutil.which("npm")
        if not npm:
            return None, "npm not found, so the widget manager (@jupyter-widgets/html-manager) cannot be fetched"
        cache.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([npm, "pack", want, "requirejs@2", "--silent"], cwd=cache, capture_output=True, text=True,
                           timeout=180)
        if r.returncode: return None, f"npm pack {want} failed: {(r.stderr or r.stdout).strip()[-300:]}"
        for tgz in r.stdout.split():
            dest = cache/("html-manager" if "html-manager" in tgz else "requirejs")
            shutil.rmtree(dest, ignore_errors=True)
            with tarfile.open(cache/tgz) as t: t.extractall(cache/"_x", filter="data")
            shutil.move(str(cache/"_x"/"package"), dest); (cache/tgz).unlink()
        shutil.rmtree(cache/"_x", ignore_errors=True)
    js = site/"_js"
    shutil.copytree(dist, js/"html-manager", dirs_exist_ok=True); shutil.copy2(req, js/"require.js")
    return {"require": "_js/require.js", "embed_amd": "_js/html-manager/embed-amd.js",
            "embed": "_js/html-manager/embed.js"}, ""

def page_js(widget_js: dict, page: str) -> dict:
    return {k: relpath(v, page) for k, v in widget_js.items()}

# ---------------------------------------------------------------- 3. checks
class Ids(__import__("html.parser").parser.HTMLParser):
    "Element ids, link targets and image sources of a page"
    def __init__(self):
        super().__init__(); self.ids, self.links, self.imgs = set(), [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"): self.ids.add(a["id"])
        if a.get("name") and tag == "a": self.ids.add(a["name"])
        if tag == "a" and a.get("href"): self.links.append(a["href"])
        if tag == "img" and a.get("src"): self.imgs.append(a["src"])

def output_problems(page: str, nb) -> list:
    "Error outputs, stderr and tracebacks in a processed notebook's outputs"
    out = []
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []):
            t = o.get("output_type")
            if t == "error":
                out.append(f"{page}: cell {i} has an error output: {o.get('ename')}: {o.get('evalue')}"[:300])
            elif t == "stream" and o.get("name") == "stderr":
                out.append(f"{page}: cell {i} wrote to stderr: {' '.join(str(o.get('text', '')).split())[:200]}")
            texts = [o.get("text", "")] + [v for k, v in o.get("data", {}).items() if k.startswith("text/")]
            if any("Traceback (most recent call last)" in (x if isinstance(x, str) else "".join(x)) for x in texts):
                out.append(f"{page}: cell {i} shows a traceback")
    return out

def doc_entry_problems(site_dir: Path, ids: dict, failed_pages: set) -> tuple[list, int]:
    "Every function and class in each module's `__all__` has its entry (page and anchor from `_modidx.py`)"
    import inspect
    from role_vectors._modidx import d
    problems, n = [], 0
    for mod, syms in sorted(d["syms"].items()):
        try: m = importlib.import_module(mod); names = list(m.__all__)
        except Exception as e: problems.append(f"{mod}: cannot import it ({type(e).__name__}: {e})"); continue
        for name in names:
            # constants: prose
            if not (inspect.isclass(getattr(m, name, None)) or inspect.isfunction(getattr(m, name, None))): continue
            n += 1
            url = (syms.get(f"{mod}.{name}") or (None,))[0]
            if url is None: problems.append(f"{mod}.{name}: not in _modidx.py (run nbdev-export)"); continue
            page, _, anchor = url.partition("#")
            if page in failed_pages: continue
            if page not in ids: problems.append(f"{mod}.{name}: its page {page} does not exist"); continue
            if anchor and anchor not in ids[page]: problems.append(f"{mod}.{name}: no entry #{anchor} on {page}")
    return problems, n

def link_problems(ids: dict, links: dict, failed_pages: set = frozenset()) -> tuple[list, int, int]:
    "Every link between pages resolves to a page (and an id there); external links are counted, not followed"
    problems, n, ext = [], 0, 0
    for page, hrefs in links.items():
        for h in hrefs:
            if re.match(r"^[a-z][a-z0-9+.-]*:", h, re.I):
                ext += h.startswith(("http:", "https:")); continue
            n += 1
            path, _, anchor = h.partition("#")
            tgt = page if not path else os.path.normpath(os.path.join(os.path.dirname(page), path)).replace(os.sep, "/")
            if tgt.startswith("_js/") or page in failed_pages: continue
            if tgt not in ids:
                problems.append(f"{page}: link {h!r} -> {tgt} does not exist"); continue
            if anchor and tgt not in failed_pages and anchor not in ids[tgt]:
                problems.append(f"{page}: link {h!r}: no #{anchor} on {tgt}")
    return problems, n, ext

# ---------------------------------------------------------------- chromium
def find_chromium(install: bool) -> tuple[str | None, str]:
    for name in ("chromium", "google-chrome", "chromium-browser"):
        if shutil.which(name): return shutil.which(name), ""
    if not install: return None, "chromium is not installed (apt-get install -y chromium)"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "chromium is not installed and this is not root with apt-get: apt-get install -y chromium"
    print("installing Debian's chromium (apt-get) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode: return None, f"{' '.join(cmd)} failed: {(r.stderr or r.stdout).strip()[-300:]}"
    return ((shutil.which("chromium"), "") if shutil.which("chromium")
            else (None, "apt-get installed no chromium binary"))

def chromium(binary: str, args: list, timeout: int = 60) -> str:
    with tempfile.TemporaryDirectory(prefix="rv-chromium-") as prof:
        r = subprocess.run([binary, *CHROME_FLAGS, f"--user-data-dir={prof}", *args], capture_output=True, text=True,
                           timeout=timeout, env={**os.environ, "TMPDIR": prof})    # its scratch files go away with it
    return r.stdout

def browse(binary: str, path: Path, widgets: bool) -> dict:
    "What the injected check script saw on one page"
    out = chromium(binary, [f"--virtual-time-budget={8000 if widgets else 2500}", "--dump-dom", path.as_uri()])
    m = re.search(r'<pre id="rv-check"[^>]*>(.*?)</pre>', out, re.S)
    if not m: return {"fail": "the page did not finish loading (no check result in its DOM)"}
    return json.loads(html.unescape(m.group(1)))

def screenshot(binary: str, path: Path, png: Path, size="1280,1500"):
    png.parent.mkdir(parents=True, exist_ok=True)
    chromium(binary,
             [f"--window-size={size}", "--virtual-time-budget=8000", f"--screenshot={png}", path.as_uri()], timeout=90)
    return png.is_file()

def explorer_page(site: Site, site_dir: Path, widget_js: dict) -> Path | None:
    "A page holding only the explorer widget (the first `RoleExplorer` output of a page), in ipywidgets' embedding"
    from ipywidgets.embed import html_template, snippet_template, load_template, widget_view_template
    for page in ["tutorials/explore.html", "explore.html"] + sorted(site.nbs):
        nb = site.nbs.get(page)
        state = (nb.metadata.get("widgets") or {}).get(WIDGET_STATE, {}) if nb else {}
        for c in nb.cells if nb else []:
            for o in c.get("outputs", []):
                d = o.get("data", {})
                if (WIDGET_VIEW in d and str(d.get("text/plain", "")).startswith("RoleExplorer")
                        and d[WIDGET_VIEW]["model_id"] in state.get("state", {})):
                    snip = snippet_template.format(
                        load=load_template.format(embed_url=widget_js["embed"], use_cors=""),
                        json_data=json.dumps(state),
                        widget_views=widget_view_template.format(view_spec=json.dumps(d[WIDGET_VIEW])))
                    p = site_dir/"_explorer.html"
                    p.write_text(html_template.format(title="RoleExplorer (static)", snippet=snip)
                                 .replace("<head>", "<head>\n" + CHECK_JS, 1))
                    return p
    return None

# ---------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--screens", help="save screenshots of the index page and of the explorer in this folder")
    ap.add_argument("--site", help="keep the rendered pages in this folder (default: a temporary folder, removed)")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes for nbdev and Chromium")
    ap.add_argument("--no-install", action="store_true", help="do not install chromium when it is missing")
    ap.add_argument("--verbose", action="store_true", help="show nbdev's messages")
    a = ap.parse_args(argv)
    t0, rep = time.time(), Report(a.verbose)
    import yaml, nbformat  # noqa: F401
    quarto_yml = ROOT/"nbs"/"_quarto.yml"
    problems = [] if quarto_yml.is_file() else ["nbs/_quarto.yml is missing: nbdev-docs would write a default one"]
    if (ROOT/"_quarto.yml").exists() and not ((ROOT/"_quarto.yml").is_symlink()
                                              and (ROOT/"_quarto.yml").resolve() == quarto_yml.resolve()):
        problems.append("a top-level _quarto.yml that is not a link to nbs/_quarto.yml: two configurations")
    quarto = yaml.safe_load(quarto_yml.read_text()) if quarto_yml.is_file() else {}
    css = (quarto.get("format", {}).get("html", {}) or {}).get("css")
    if css and not (ROOT/"nbs"/css).is_file(): problems.append(f"nbs/_quarto.yml names css {css}, which is not in nbs/")
    nbdev_yml = yaml.safe_load((ROOT/"nbs"/"nbdev.yml").read_text()) if (ROOT/"nbs"/"nbdev.yml").is_file() else {}
    rep.check("docs config", problems, "nbs/_quarto.yml (one configuration), nbs/nbdev.yml, styles")

    with tempfile.TemporaryDirectory(prefix="rv-docs-check-") as tmp:
        tmp = Path(tmp)
        nbs = stage(tmp)
        t = time.time()
        cache, failed = process(nbs, a.workers, tmp/"nbdev.log")
        log = (tmp/"nbdev.log").read_text(errors="replace")
        mixed = log.count("Found cells containing imports and other code")
        rep.check("nbdev processing (proc_nbs)",
                  [f"nbs/{p.relative_to(nbs)}: cell {c}: {err}" for p, c, err in failed],
                  f"{len(list(Path(cache).rglob('*.ipynb')))} notebooks in {time.time() - t:.0f}s")
        if mixed: print(f"       note: nbdev ran {mixed} cell(s) that mix imports with other code while processing "
                        f"(its FAQ: keep imports in their own cells){'' if a.verbose else '; --verbose lists them'}")
        if a.verbose: print(log)
        site_dir = Path(a.site) if a.site else tmp/"site"
        if site_dir.exists(): shutil.rmtree(site_dir)
        site_dir.mkdir(parents=True)
        widget_js, why = html_manager(site_dir)
        if widget_js is None: rep.skip(f"docs check: widgets not rendered ({why})")
        web = {**(nbdev_yml.get("website") or {}), **(quarto.get("website") or {})}   # as Quarto merges metadata-files
        site = Site(Path(cache), nbs, web.get("site-url", ""), {**quarto, "website": web}, widget_js)
        site.load()
        t, bad = time.time(), []
        for page in sorted(site.nbs):
            ex = exporter(page_js(widget_js, page) if widget_js else None)
            try: text = site.render(page, ex)
            except Exception as e: bad.append(f"{page}: nbconvert failed: {type(e).__name__}: {e}"[:300]); continue
            (site_dir/page).parent.mkdir(parents=True, exist_ok=True); (site_dir/page).write_text(text)
        for p, _, _ in failed:   # pages that could not be processed: unprocessed, so links to them are checked too
            page = out_name(str(p.relative_to(nbs)))
            (site_dir/page).parent.mkdir(parents=True, exist_ok=True)
            (site_dir/page).write_text(f"<html><body><h1>{html.escape(page)}: not built (nbdev processing "
                                       "failed)</h1></body></html>")
        rep.check("pages render (nbconvert)", bad, f"{len(site.nbs) - len(bad)} pages in {time.time() - t:.0f}s")

        errs = [e for page, nb in sorted(site.nbs.items()) for e in output_problems(page, nb)]
        rep.check("no error output", errs, f"{sum(len(nb.cells) for nb in site.nbs.values())} cells")
        ids, links, imgs = {}, {}, {}
        for p in site_dir.rglob("*.html"):
            rel = str(p.relative_to(site_dir)).replace(os.sep, "/")
            if rel.startswith("_js/"): continue
            prs = Ids(); prs.feed(p.read_text(errors="replace"))
            ids[rel], links[rel], imgs[rel] = prs.ids, prs.links, prs.imgs
        failed_pages = {out_name(str(p.relative_to(nbs))) for p, _, _ in failed}
        probs, n = doc_entry_problems(site_dir, ids, failed_pages)
        rep.check("doc entries", probs, f"{n} exported functions and classes have their entry"
                  + (" (not checked: the pages that failed processing, "
                     f"{sorted(failed_pages)})" if failed_pages else ""))
        in_sidebar = {site.link_target(v) for k, v in
                      sidebar_entries(((quarto.get("website") or {}).get("sidebar") or {}).get("contents"), [])
                      if k == "link"}
        probs, n, ext = link_problems(ids, links, failed_pages)
        rep.check("links between pages", probs,
                  f"{n} links resolve (sidebar included); {ext} external links not followed")
        orphans = sorted(p for p in site.nbs if p not in in_sidebar)
        if orphans: print(f"       note: pages not in the sidebar: {orphans}")

        binary, why = find_chromium(not a.no_install)
        if binary is None:
            rep.skip(f"docs check: the browser checks (images, scripts, widgets, screenshots): {why}")
        else:
            t = time.time()
            pages = sorted(p for p in ids if not p.startswith("_") and p not in failed_pages)
            with ThreadPoolExecutor(a.workers) as ex:
                seen = dict(zip(pages, ex.map(
                    lambda p: browse(binary, site_dir/p, bool(widget_js) and "widget-view" in (site_dir/p).read_text()),
                    pages)))
            probs = []
            for p, r in seen.items():
                if "fail" in r: probs.append(f"{p}: {r['fail']}"); continue
                probs += [f"{p}: image does not load: {s}" for s in r["bad"]]
                probs += [f"{p}: script error: {e}" for e in r["errors"]]
                if widget_js and r["views"] and not r["shown"]:
                    probs.append(f"{p}: {r['views']} widget view(s), none rendered")
            n_img = sum(r.get("images", 0) for r in seen.values())
            n_w = sum(r.get("views", 0) for r in seen.values())
            rep.check("pages in Chromium", probs, f"{len(seen)} pages, {n_img} images load, {n_w} widget views, "
                      f"no script error ({time.time() - t:.0f}s)")
            if a.screens:
                shots, sd = [], Path(a.screens)
                if (site_dir/"index.html").is_file() and screenshot(binary, site_dir/"index.html", sd/"index.png"):
                    shots.append(sd/"index.png")
                ep = explorer_page(site, site_dir, widget_js) if widget_js else None
                if ep and screenshot(binary, ep, sd/"explorer.png", "1400,1250"): shots.append(sd/"explorer.png")
                for pg in ("tutorials/explore.html", "explore.html"):
                    if (site_dir/pg).is_file() and screenshot(binary, site_dir/pg, sd/f"{Path(pg).stem}_page.png"):
                        shots.append(sd/f"{Path(pg).stem}_page.png"); break
                rep.check("screenshots", [] if shots else ["no screenshot could be taken"], ", ".join(map(str, shots)))
        if a.site: print(f"       the rendered pages are in {site_dir}")
    print(f"docs check ({time.time() - t0:.0f}s): {len(rep.passed)} passed, {len(rep.failed)} failed, "
          f"{len(rep.skipped)} skipped")
    return 1 if rep.failed else 0

if __name__ == "__main__": sys.exit(main())
