"""The checks of book/_browser_check.py (DOM parsing, layout) and of the figure manifest
(book/_build_book.py), on small hand-written inputs: each check must pass good input and name the
problem in bad input. No book build is needed; one test runs the layout probe in headless chromium
when it is installed (the real pages are checked by `.ci/run` after the build)."""
from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "book" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


browser = load("_browser_check")
build = load("_build_book")


# --------------------------------------------------------------------------- DOM checks
def test_internet_resources_found_but_links_allowed():
    page = browser.parse("""<html><head>
        <script src="https://cdn.example.org/mathjax.js"></script>
        <link rel="stylesheet" href="//fonts.example.org/css">
        <link rel="canonical" href="https://example.org/book/">
        <link rel="stylesheet" href="_static/local.css">
        <style>@import url("https://fonts.example.org/x.css");</style>
        </head><body>
        <a href="https://arxiv.org/abs/2305.08013">the paper</a>
        <img src="http://example.org/a.png"><img src="_images/b.png" srcset="_images/b.png 1x, https://x.org/b2.png 2x">
        <div style="background: url('https://example.org/bg.png')"></div>
        </body></html>""")
    bad = browser.internet_resources(page)
    text = "\n".join(bad)
    assert "cdn.example.org/mathjax.js" in text
    assert "//fonts.example.org/css" in text
    assert "fonts.example.org/x.css" in text            # @import in a <style> block
    assert "http://example.org/a.png" in text
    assert "https://x.org/b2.png" in text                 # srcset candidates
    assert "example.org/bg.png" in text                   # inline style
    assert "arxiv.org" not in text                        # <a href> is only a link
    assert "example.org/book/" not in text                # rel=canonical is not loaded
    assert "_static/local.css" not in text and "_images/b.png'" not in text
    assert len(bad) == 6


def test_raw_tex_detected_outside_code_and_typeset_math():
    good = browser.parse("""<body><p>Text with <mjx-container>\\(x\\)</mjx-container> math.</p>
        <pre>$$ code is not prose \\[ \\]</pre><code>\\frac{a}{b}</code>
        <script>var s = "$$";</script><p>Costs $5 and $6.</p></body>""")
    assert browser.raw_tex(good) == []
    bad = browser.parse("<body><p>Untypeset: \\[ h(X) = \\log n \\] and $$a$$</p></body>")
    found = browser.raw_tex(bad)
    assert found and any("\\[" in f for f in found)
    assert browser.raw_tex(browser.parse("<p>left \\frac{1}{2} raw</p>"))


def test_math_elements_and_typeset_counts():
    page = browser.parse('<div class="math notranslate">\\[a\\]</div><span class="math">\\(b\\)</span>'
                         "<mjx-container></mjx-container>")
    assert page.math == 2 and page.typeset == 1


def test_image_problems_resolve_local_files(tmp_path):
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "ok.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 10)
    (tmp_path / "_images" / "empty.png").write_bytes(b"")
    page_file = tmp_path / "page.html"
    page = browser.parse('<img src="_images/ok.png"><img src="_images/empty.png"><img src="_images/gone.png">'
                         '<img src="data:image/png;base64,AAAA">')
    problems = browser.image_problems(page_file, page)
    assert len(problems) == 2
    assert any("empty.png" in p and "empty" in p for p in problems)
    assert any("gone.png" in p and "does not exist" in p for p in problems)


def test_css_problems_follow_local_stylesheets(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "theme.css").write_text("@font-face{src:url(https://fonts.example.org/f.woff2)}"
                                                    "body{background:url(../_images/x.png)}")
    page = browser.parse('<link rel="stylesheet" href="_static/theme.css">')
    problems = browser.css_problems(tmp_path / "page.html", page, {})
    assert problems == ["theme.css loads https://fonts.example.org/f.woff2"]


# --------------------------------------------------------------------------- layout
def _layout(**changes):
    good = {"viewport": 1280, "text": [240, 1056], "full_right": 1264, "wide": [], "overflow": [],
            "figures": [{"src": "a.png", "width": 816, "natural": 1210, "full": False},
                        {"src": "b.png", "width": 1024, "natural": 1400, "full": True}]}
    good.update(changes)
    return good


def test_layout_problems_pass_a_good_page_and_name_each_problem():
    assert browser.layout_problems(_layout()) == []
    problems = browser.layout_problems(_layout(
        text=[256, 946],
        wide=[{"what": "div.output 'x'", "left": 256, "right": 1100, "column": [256, 946]}],
        overflow=[{"what": "pre 'import numpy'", "scroll": 985, "client": 684}],
        figures=[{"src": "small.png", "width": 400, "natural": 400, "full": False}]))
    text = "\n".join(problems)
    assert len(problems) == 4
    assert "text column is 690 px wide in a 1280-px window (at least 800 px" in text
    assert "wider than its column (256-946 px): div.output 'x' spans 256-1100 px" in text
    assert "cut off or scrolling: pre 'import numpy' holds 985 px in 684 px" in text
    assert "figure small.png is 400 px wide, narrower than the 690-px text column" in text
    assert browser.layout_problems(None) == ["no <article class='bd-article'> found: cannot measure the text column"]
    narrow_full = browser.layout_problems(_layout(figures=[{"src": "f.png", "width": 900, "natural": 1400, "full": True}]))
    assert narrow_full == ["figure f.png in a full-width cell is 900 px wide, narrower than its 1024-px column"]


PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
         "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


@pytest.mark.skipif(not any(shutil.which(c) for c in ("chromium", "chromium-browser")),
                    reason="needs Debian's chromium (installed by .ci/run after the tests)")
def test_browser_probe_measures_columns_overflow_and_figures(tmp_path):
    """The probe in headless chromium, on a page with a cut-off code line, a block wider than the
    text column, a full-width cell that stays within the contents column, and a narrow figure."""
    page = tmp_path / "page.html"
    page.write_text(f"""<html><head><style>
        body {{ margin: 0; }}
        .bd-article {{ position: absolute; left: 0; top: 0; width: 600px; padding: 0 20px; }}
        .bd-sidebar-secondary {{ position: absolute; left: 640px; top: 0; width: 200px; }}
        pre {{ overflow-x: auto; white-space: pre; }}
        </style></head><body>
        <div class="bd-sidebar-secondary">contents</div>
        <article class="bd-article">
        <p>Text.</p>
        <pre>{"x = 1; " * 60}</pre>
        <div class="too-wide" style="width: 700px">wide</div>
        <div class="cell tag_full-width" style="width: 780px"><img src="{PIXEL}" style="width: 780px"></div>
        <figure><img src="{PIXEL}" style="width: 300px"></figure>
        </article></body></html>""")
    result = browser.check_page(browser.find_chromium(None), page, tmp_path, {})
    lay = result["layout"]
    assert lay["text"] == [20, 620] and lay["full_right"] == 840
    problems = "\n".join(result["problems"])
    assert "text column is 600 px wide" in problems
    assert "div.too-wide 'wide' spans 20-720 px" in problems
    assert "content cut off or scrolling: pre 'x = 1;" in problems
    assert "is 300 px wide, narrower than the 600-px text column" in problems
    assert "tag_full-width" not in problems  # 780 px from 20 px ends inside the contents column
    assert len(result["problems"]) == 4, result["problems"]
    assert (tmp_path / "page.png").stat().st_size > 0


# --------------------------------------------------------------------------- figure manifest
def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    for meta, n_images in cells:
        cell = nbformat.v4.new_code_cell("plot()")
        cell.metadata.update(meta)
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})
                        for _ in range(n_images)]
        nb.cells.append(cell)
    nbformat.write(nb, path)


def _fig(name, caption="A caption."):
    return {"mystnb": {"figure": {"name": name, "caption": caption}}}


def test_check_figures_passes_a_complete_chapter(tmp_path):
    figdir = tmp_path / "fig"
    figdir.mkdir()
    since = time.time()
    (figdir / "fig-a.png").write_bytes(b"png")
    nb = tmp_path / "ch.ipynb"
    _notebook(nb, [(_fig("fig-a"), 1), ({}, 0)])
    assert build.check_figures("ch", nb, figdir, [{"name": "fig-a"}], since) == []


def test_check_figures_names_every_problem(tmp_path):
    figdir = tmp_path / "fig"
    figdir.mkdir()
    (figdir / "fig-old.png").write_bytes(b"png")
    old = time.time() - 3600
    import os
    os.utime(figdir / "fig-old.png", (old, old))
    (figdir / "fig-extra.png").write_bytes(b"png")
    nb = tmp_path / "ch.ipynb"
    _notebook(nb, [(_fig("fig-old"), 1), (_fig("fig-nocap", caption=""), 1), ({}, 1), (_fig("fig-unlisted"), 1)])
    entries = [{"name": "fig-old"}, {"name": "fig-missing"}, {"name": "fig-nocap"}]
    problems = "\n".join(build.check_figures("ch", nb, figdir, entries, time.time()))
    assert "'fig-old'" in problems and "older than this run" in problems
    assert "'fig-missing' was not saved" in problems
    assert "'fig-missing' is not shown" in problems
    assert "['fig-extra']" in problems and "not listed" in problems
    assert "'fig-nocap'" in problems and "no caption" in problems
    assert "without `mystnb: figure:`" in problems
    assert "['fig-unlisted']" in problems


def test_manifest_validation(tmp_path):
    chapters = {"a": tmp_path / "a.md", "b": tmp_path / "b.md"}
    good = tmp_path / "good.yml"
    good.write_text("a:\n  - name: fig-one\n    paper: Fig. 1\nb: []\nlater:\n  - name: fig-two\n")
    manifest, notes = build.load_manifest(chapters, good)
    assert manifest == {"a": [{"name": "fig-one", "paper": "Fig. 1"}], "b": []}
    assert notes and "later" in notes[0]
    for text, match in [("a: []\n", "no section for chapter"),
                        ("a:\n  - name: Fig_One\nb: []\n", "must look like"),
                        ("a:\n  - name: fig-x\nb:\n  - name: fig-x\n", "listed under both"),
                        ("a:\n  - name: fig-x\n    colour: red\nb: []\n", "unknown keys")]:
        bad = tmp_path / "bad.yml"
        bad.write_text(text)
        with pytest.raises(build.BookError, match=match):
            build.load_manifest(chapters, bad)


def test_book_manifest_matches_chapter_sources():
    """Every figure cell of every chapter is in book/figures.yml and saved under its own name."""
    import jupytext

    chapters = build.chapters()
    manifest, _ = build.load_manifest(chapters)
    for name, path in chapters.items():
        nb = jupytext.read(path)
        named = [(c.metadata.get("mystnb") or {}).get("figure", {}) for c in nb.cells if c.cell_type == "code"]
        named = {f["name"]: f for f in named if f}
        listed = {e["name"] for e in manifest[name]}
        assert set(named) == listed, f"{name}: figure cells {sorted(named)} vs manifest {sorted(listed)}"
        text = path.read_text()
        for fig in named.values():
            assert str(fig.get("caption", "")).strip(), f"{name}: {fig['name']} has no caption"
            assert f'"{fig["name"]}"' in text, f"{name}: {fig['name']} is never saved under its name"


# --------------------------------------------------------------------------- execution order
def test_chapters_run_longest_first_and_the_reader_of_the_others_last():
    names = ["theory", "estimators", "synthetic", "mnist", "reproducing"]
    waves = build.execution_order(names, {"theory": 9, "estimators": 90, "synthetic": 333, "mnist": 141})
    assert waves == [["synthetic", "mnist", "estimators", "theory"], ["reproducing"]]
    # a chapter without a recorded time goes first (it may be the longest); ties keep the book's order
    assert build.execution_order(["a", "b", "reproducing"], {}) == [["a", "b"], ["reproducing"]]
    assert build.execution_order(["theory", "new"], {"theory": 9}) == [["new", "theory"]]
    assert set(build.READS_OTHERS) <= set(build.chapters())
