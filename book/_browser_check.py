"""Open every page of the built book in headless Chromium and check what a reader would see.

For each page of ``_toc.yml`` (``_build/site/_build/html/book/<page>.html``) this script

1. checks the HTML file: no script, stylesheet, image, font or frame is loaded from the internet
   (``http://``, ``https://`` or protocol-relative ``//`` URLs; links in ``<a href>`` are fine), the
   local CSS files it loads import nothing from the internet either, and every ``<img src>``
   resolves to a non-empty local image file;
2. renders a probe copy of the page with Debian's ``chromium`` (headless, no network: every host
   name resolves to nothing) and dumps the DOM after the page's scripts ran (``--dump-dom``). The
   probe script records, after MathJax finished, how many images loaded (``naturalWidth > 0``)
   and how many formulas were typeset; the dumped DOM is checked for typeset math
   (``mjx-container`` elements for every math element of the HTML, no raw ``\\[``, ``\\(``, ``$$`` or
   TeX commands left in the visible text) and for internet URLs added by scripts;
   the probe also measures the layout in the 1280-px window a laptop reader has: the text column
   must be at least 800 px wide, no element may reach outside its column (the text column, or for a
   cell tagged ``full-width`` the text column and the page contents beside it) and no code, table
   or formula may be cut off or scroll sideways, and every figure must be at least as wide as the
   text column (:func:`layout_problems`);
3. saves a full-page screenshot ``_build/screenshots/<page>.png`` and the DOM
   ``_build/screenshots/<page>.dom.html``.

Any failed check fails the script (exit 1); ``_build/reports/browser.json`` records the results.
Usage: ``python book/_browser_check.py [--html DIR] [--out DIR] [--chromium PATH] [--pages a b ...]``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _build_book import toc_files  # noqa: E402  (the one reader of _toc.yml)

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "site" / "_build" / "html"
OUT = ROOT / "_build" / "screenshots"
REPORT = ROOT / "_build" / "reports" / "browser.json"
PROBE_ATTR = "data-ibcore-probe"
MAX_HEIGHT = 16000  # px; longer pages are cut in the screenshot only

# tags whose URL attributes the browser loads by itself (an <a href> is only followed on a click)
RESOURCE_ATTRS = {
    "script": ("src",), "link": ("href",), "img": ("src", "srcset"), "source": ("src", "srcset"),
    "iframe": ("src",), "embed": ("src",), "object": ("data",), "video": ("src", "poster"),
    "audio": ("src",), "track": ("src",), "input": ("src",),
}
LINK_RELS_NOT_LOADED = {"canonical", "alternate", "author", "help", "license", "next", "prev", "search",
                        "index", "top", "up", "first", "last"}
INTERNET = re.compile(r"^\s*(https?:)?//", re.I)
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""", re.I)
# text the reader should never see: TeX that MathJax did not typeset
RAW_TEX = re.compile(r"\$\$|\\\[|\\\]|\\\(|\\\)|\\(?:frac|mathbb|mathcal|mathrm|sum|log|tilde|hat|sqrt|le|ge|operatorname)\b")
SKIP_TEXT = {"script", "style", "pre", "code", "textarea", "mjx-container", "math", "noscript", "kbd", "samp"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

WINDOW = (1280, 1600)  # px: the laptop-sized window every page is laid out and measured in
MIN_TEXT_WIDTH = 800   # px: the text column at that width (the theme's default gave about 690;
                       # the chapters size their figures' fonts for at least this width)

# Runs in the page after MathJax finished; stores its findings as JSON in an attribute of <html>.
# Layout: the text column is the content box of <article class="bd-article">; a cell tagged
# full-width may also use the page-contents column beside it. An element "wider than its column"
# is one that reaches outside that range without sitting in a container that clips or scrolls it
# (those containers are reported as overflowing instead); only the outermost such element is
# listed.
PROBE = """
<script>
(function () {
  function describe(el) {
    var c = (el.getAttribute("class") || "").trim().split(/\\s+/).filter(Boolean).slice(0, 3).join(".");
    var t = (el.textContent || el.getAttribute("src") || "").replace(/\\s+/g, " ").trim().slice(0, 60);
    return el.tagName.toLowerCase() + (c ? "." + c : "") + (t ? " '" + t + "'" : "");
  }
  function layout() {
    var art = document.querySelector("article.bd-article");
    if (!art) { return null; }
    var cs = getComputedStyle(art), ar = art.getBoundingClientRect();
    var left = ar.left + parseFloat(cs.paddingLeft), right = ar.right - parseFloat(cs.paddingRight);
    var vw = document.documentElement.clientWidth, fullRight = right;
    var side = document.querySelector(".bd-sidebar-secondary");
    if (side) {  // the page contents beside the text, up to where its own text ends
      var sr = side.getBoundingClientRect(), ss = getComputedStyle(side);
      if (sr.width > 0 && ss.visibility !== "hidden" && sr.left >= right - 1) {
        fullRight = sr.right - parseFloat(ss.paddingRight);
      }
    }
    function clipped(el) {
      for (var p = el.parentElement; p && p !== art; p = p.parentElement) {
        if (getComputedStyle(p).overflowX !== "visible") { return true; }
      }
      return false;
    }
    // MathJax's hidden copy of each formula for screen readers widens scrollWidth; what shows is mjx-math
    function mathFits(el, r) {
      var maths = el.querySelectorAll("mjx-math");
      if (!maths.length || !el.querySelector("mjx-assistive-mml")) { return false; }
      var far = r.left;
      for (var k = 0; k < maths.length; k++) { far = Math.max(far, maths[k].getBoundingClientRect().right); }
      return far <= r.left + el.clientLeft + el.clientWidth + 1;
    }
    var wide = [], overflow = [], figures = [], flagged = new Set();
    var els = art.querySelectorAll("*");
    for (var i = 0; i < els.length; i++) {
      var el = els[i], st = getComputedStyle(el);
      if (st.display === "none" || st.visibility === "hidden" || el.closest("mjx-assistive-mml")) { continue; }
      var r = el.getBoundingClientRect();
      if (r.width < 1 || r.height < 1) { continue; }
      var limit = Math.min(el.closest(".tag_full-width, .full-width") ? fullRight : right, vw);
      if ((r.right > limit + 1 || r.left < left - 1) && !clipped(el)) {
        if (!flagged.has(el.parentElement)) {
          wide.push({what: describe(el), left: Math.round(r.left), right: Math.round(r.right),
                     column: [Math.round(left), Math.round(limit)]});
        }
        flagged.add(el);
      }
      if (st.overflowX !== "visible" && el.scrollWidth > el.clientWidth + 1 && !mathFits(el, r)) {
        overflow.push({what: describe(el), scroll: el.scrollWidth, client: el.clientWidth});
      }
    }
    var imgs = art.querySelectorAll("figure img, div.cell_output img");
    for (var j = 0; j < imgs.length; j++) {
      var ir = imgs[j].getBoundingClientRect();
      figures.push({src: imgs[j].getAttribute("src"), width: Math.round(ir.width), natural: imgs[j].naturalWidth,
                    full: !!imgs[j].closest(".tag_full-width, .full-width")});
    }
    return {viewport: vw, text: [Math.round(left), Math.round(right)], full_right: Math.round(fullRight),
            wide: wide, overflow: overflow, figures: figures};
  }
  function report() {
    var imgs = Array.prototype.slice.call(document.images);
    var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                     .map(function (i) { return i.getAttribute("src"); });
    var r = {images: imgs.length, broken: broken,
             typeset: document.querySelectorAll("mjx-container").length,
             mathjax: !!(window.MathJax && window.MathJax.version), height: document.documentElement.scrollHeight,
             layout: layout()};
    document.documentElement.setAttribute("__ATTR__", JSON.stringify(r));
  }
  window.addEventListener("load", function () {
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) { mj.startup.promise.then(report, report); } else { report(); }
  });
})();
</script>
""".replace("__ATTR__", PROBE_ATTR)


def layout_problems(layout: dict | None, min_text: float = MIN_TEXT_WIDTH) -> list[str]:
    """What a reader of a 1280-px window would find cramped or cut off, from the probe's layout.

    ``layout`` holds ``text`` (left and right edge of the text column, px), ``wide`` (outermost
    elements reaching outside their column), ``overflow`` (containers whose content is wider than
    they are, so it scrolls or is cut) and ``figures`` (rendered width of every figure image).
    The problems: a text column narrower than ``min_text``, any wide or overflowing element, any
    figure narrower than the text column, and any figure of a full-width cell narrower than the
    text column and the page contents together.
    """
    if not layout:
        return ["no <article class='bd-article'> found: cannot measure the text column"]
    left, right = layout["text"]
    text = right - left
    problems = []
    if text < min_text:
        problems.append(f"the text column is {text} px wide in a {layout['viewport']}-px window "
                        f"(at least {min_text} px expected)")
    for w in layout.get("wide", []):
        problems.append(f"wider than its column ({w['column'][0]}-{w['column'][1]} px): {w['what']} "
                        f"spans {w['left']}-{w['right']} px")
    for o in layout.get("overflow", []):
        problems.append(f"content cut off or scrolling: {o['what']} holds {o['scroll']} px in {o['client']} px")
    full = layout.get("full_right", right) - left
    for f in layout.get("figures", []):
        if f["width"] < text - 1:
            problems.append(f"figure {f['src']} is {f['width']} px wide, narrower than the {text}-px text column")
        elif f.get("full") and f["width"] < full - 1:
            problems.append(f"figure {f['src']} in a full-width cell is {f['width']} px wide, narrower than "
                            f"its {full}-px column")
    return problems


class Failure(Exception):
    pass


# --------------------------------------------------------------------------- HTML parsing
class _Page(HTMLParser):
    """Collects resource URLs, images, math elements and visible text of one HTML document."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.resources: list[tuple[str, str, str]] = []  # (tag, attribute, url)
        self.images: list[str] = []
        self.math = 0
        self.typeset = 0
        self.text: list[str] = []
        self.inline_css: list[str] = []
        self._skip = 0
        self._stack: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag in RESOURCE_ATTRS:
            rel = set((a.get("rel") or "").lower().split())
            if not (tag == "link" and rel and rel <= LINK_RELS_NOT_LOADED):
                for name in RESOURCE_ATTRS[tag]:
                    value = a.get(name)
                    if value:
                        urls = [part.strip().split()[0] for part in value.split(",") if part.strip()] \
                            if name == "srcset" else [value]
                        self.resources += [(tag, name, u) for u in urls]
        if a.get("style"):
            self.inline_css.append(a["style"])
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        if "math" in classes and tag in ("span", "div"):
            self.math += 1
        if tag == "mjx-container":
            self.typeset += 1
        if tag == "style":
            self._in_style = True
        if tag in VOID:
            return
        self._stack.append(tag)
        if tag in SKIP_TEXT:
            self._skip += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self._stack and self._stack[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False
        if tag in VOID or tag not in self._stack:
            return
        while self._stack:  # close anything left open inside (lenient, like a browser)
            top = self._stack.pop()
            if top in SKIP_TEXT:
                self._skip -= 1
            if top == tag:
                break

    def handle_data(self, data):
        if self._in_style:
            self.inline_css.append(data)
        elif not self._skip:
            self.text.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def internet_resources(page: _Page) -> list[str]:
    """Resources of a parsed page that a browser would fetch from the internet."""
    bad = [f"<{tag} {attr}={url!r}>" for tag, attr, url in page.resources if INTERNET.match(url)]
    for css in page.inline_css:
        bad += [f"inline CSS url({u!r})" for u in CSS_URL.findall(css) if INTERNET.match(u)]
    return bad


def raw_tex(page: _Page) -> list[str]:
    """Snippets of visible text that still hold TeX (untypeset math)."""
    text = " ".join(" ".join(page.text).split())
    return [text[max(0, m.start() - 30): m.end() + 30] for m in RAW_TEX.finditer(text)][:5]


def local_target(page_file: Path, url: str) -> Path | None:
    """The file a relative URL of ``page_file`` points at (None for data: URLs and anchors)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob") or (not parts.path and parts.fragment):
        return None
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return (page_file.parent / unquote(parts.path)).resolve()


def image_problems(page_file: Path, page: _Page) -> list[str]:
    problems = []
    for src in page.images:
        if INTERNET.match(src):
            continue  # reported as an internet resource
        target = local_target(page_file, src)
        if target is None:
            continue
        if not target.is_file():
            problems.append(f"<img src={src!r}>: {target} does not exist")
        elif target.stat().st_size == 0:
            problems.append(f"<img src={src!r}>: {target} is empty")
    return problems


def css_problems(page_file: Path, page: _Page, seen: dict[Path, list[str]]) -> list[str]:
    """Internet URLs inside the local stylesheets the page loads (fonts, @import)."""
    problems = []
    for tag, attr, url in page.resources:
        if tag != "link" or INTERNET.match(url):
            continue
        target = local_target(page_file, url)
        if target is None or target.suffix != ".css" or not target.is_file():
            continue
        if target not in seen:
            css = target.read_text(errors="replace")
            seen[target] = sorted({u for u in CSS_URL.findall(css) if INTERNET.match(u)})
        problems += [f"{target.name} loads {u}" for u in seen[target]]
    return problems


# --------------------------------------------------------------------------- chromium
def find_chromium(explicit: str | None) -> str:
    for cand in [explicit, os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]:
        if cand and shutil.which(cand):
            return shutil.which(cand)
    raise Failure("no chromium found (Debian: apt-get install -y chromium; or pass --chromium PATH)")


def chromium(exe: str, url: str, *extra: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="ibcore-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={profile}",
               "--virtual-time-budget=5000", "--hide-scrollbars",
               # offline on purpose: no host name resolves, so a page that needs the internet fails here
               "--host-resolver-rules=MAP * ~NOTFOUND", *extra, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def pages_from_toc(html_dir: Path) -> list[Path]:
    return [html_dir / f"{f}.html" for f in toc_files(ROOT / "_toc.yml")]


def check_page(exe: str, page_file: Path, out: Path, css_seen: dict) -> dict:
    name = page_file.stem
    result = {"page": str(page_file.relative_to(ROOT)) if page_file.is_relative_to(ROOT) else str(page_file),
              "problems": []}
    problems = result["problems"]
    if not page_file.is_file():
        problems.append(f"{page_file} does not exist (was the book built?)")
        return result
    html = page_file.read_text()
    static = parse(html)
    problems += [f"internet resource in the HTML: {b}" for b in internet_resources(static)]
    problems += css_problems(page_file, static, css_seen)
    problems += image_problems(page_file, static)

    # the probe copy sits next to the page so that every relative URL resolves the same way
    probe = page_file.with_name(f".probe-{name}.html")
    marker = "</body>"
    probe.write_text(html.replace(marker, PROBE + marker, 1) if marker in html else html + PROBE)
    try:
        t0 = time.perf_counter()
        run = chromium(exe, probe.as_uri(), f"--window-size={WINDOW[0]},{WINDOW[1]}", "--dump-dom")
        result["seconds_dom"] = round(time.perf_counter() - t0, 2)
    finally:
        probe.unlink(missing_ok=True)
    dom = run.stdout
    if run.returncode != 0 or "<html" not in dom:
        problems.append(f"chromium --dump-dom failed (exit {run.returncode}): {run.stderr.strip()[-300:]}")
        return result
    (out / f"{name}.dom.html").write_text(dom)
    m = re.search(PROBE_ATTR + r'="([^"]*)"', dom)
    if not m:
        problems.append("the page's load event never fired within the time budget (probe missing)")
        return result
    import html as html_lib

    info = json.loads(html_lib.unescape(m.group(1)))
    rendered = parse(dom)
    result.update(images=info["images"], broken_images=info["broken"], math_elements=static.math,
                  typeset=rendered.typeset, height=info["height"], layout=info.get("layout"))
    if info["broken"]:
        problems.append(f"images that did not load in the browser: {info['broken']}")
    if info["images"] < len(static.images):
        problems.append(f"the browser saw {info['images']} images, the HTML has {len(static.images)}")
    if static.math:
        if not info["mathjax"]:
            problems.append(f"{static.math} math elements but MathJax did not load")
        if rendered.typeset < static.math:
            problems.append(f"only {rendered.typeset} of {static.math} math elements were typeset by MathJax")
    problems += layout_problems(info.get("layout"))
    leftovers = raw_tex(rendered)
    if leftovers:
        problems.append(f"raw TeX left in the rendered text: {leftovers}")
    problems += [f"internet resource after scripts ran: {b}" for b in internet_resources(rendered)
                 if f"internet resource in the HTML: {b}" not in problems]

    height = max(800, min(int(info["height"]), MAX_HEIGHT))
    shot = out / f"{name}.png"
    t0 = time.perf_counter()
    run = chromium(exe, page_file.as_uri(), f"--window-size={WINDOW[0]},{height}", f"--screenshot={shot}")
    result["seconds_screenshot"] = round(time.perf_counter() - t0, 2)
    if run.returncode != 0 or not shot.is_file() or shot.stat().st_size == 0:
        problems.append(f"chromium --screenshot failed (exit {run.returncode}): {run.stderr.strip()[-300:]}")
    else:
        result["screenshot"] = str(shot.relative_to(ROOT)) if shot.is_relative_to(ROOT) else str(shot)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--html", default=str(HTML), help="built HTML folder (default: _build/site/_build/html)")
    ap.add_argument("--out", default=str(OUT), help="screenshots and DOM dumps (default: _build/screenshots)")
    ap.add_argument("--chromium", default=None, help="browser executable (default: chromium on PATH)")
    ap.add_argument("--pages", nargs="*", help="page stems to check (default: every page of _toc.yml)")
    args = ap.parse_args(argv)

    html_dir, out = Path(args.html).resolve(), Path(args.out).resolve()
    try:
        exe = find_chromium(args.chromium)
    except Failure as exc:
        print(f"browser check: error: {exc}", file=sys.stderr)
        return 2
    pages = pages_from_toc(html_dir)
    if args.pages:
        pages = [p for p in pages if p.stem in set(args.pages)]
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results, css_seen = [], {}
    for page in pages:
        res = check_page(exe, page, out, css_seen)
        results.append(res)
        status = "ok" if not res["problems"] else "FAILED"
        lay = res.get("layout") or {}
        widths = sorted({f["width"] for f in lay.get("figures", [])})
        print(f"browser check: {page.stem}: {status} ({res.get('images', 0)} images, "
              f"{res.get('typeset', 0)}/{res.get('math_elements', 0)} formulas typeset, "
              f"{res.get('height', 0)} px; text column {lay['text'][1] - lay['text'][0] if lay else '?'} px"
              + (f", figures {', '.join(map(str, widths))} px wide" if widths else "") + ")", flush=True)
        for p in res["problems"]:
            print(f"    {p}", flush=True)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({"pages": results, "seconds": round(time.perf_counter() - t0, 1)}, indent=1) + "\n")
    failed = [r for r in results if r["problems"]]
    print(f"browser check: {len(results) - len(failed)}/{len(results)} pages ok in "
          f"{time.perf_counter() - t0:.1f} s; screenshots in {out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
