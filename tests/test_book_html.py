"""The checks of book/_browser_check.py (DOM parsing) and of the figure manifest (book/_build_book.py),
on small hand-written inputs: each check must pass good input and name the problem in bad input.
No browser and no book build are needed; the real pages are checked by `.ci/run` after the build."""
from __future__ import annotations

import importlib.util
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
