"""ibcore.report: the Markdown tables and the figure files of the book's chapters."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from ibcore import report
from ibcore.report import SHOWN_PX, figure_dir, markdown_table, md_table, save_figure

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ["theory", "estimators", "synthetic", "mnist", "reproducing"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- tables
def test_markdown_table_text():
    text = markdown_table(["n", "estimate", "pass"], [[10, 0.5, "yes"], (1000, "1.02 ± 0.03", "**NO**")])
    assert text == ("| n | estimate | pass |\n"
                    "|---|---|---|\n"
                    "| 10 | 0.5 | yes |\n"
                    "| 1000 | 1.02 ± 0.03 | **NO** |")


def test_markdown_table_escapes_pipes_and_formats_cells_with_str():
    text = markdown_table(["claim", "|AE − latent|"], [["a|b", np.float64(0.25)], [None, 3]])
    lines = text.splitlines()
    assert lines[0] == "| claim | \\|AE − latent\\| |"
    assert lines[2] == "| a\\|b | 0.25 |"
    assert lines[3] == "| None | 3 |"
    # every line has as many unescaped separators as the header: no cell was split
    for line in lines:
        assert line.replace("\\|", "").count("|") == 3


def test_markdown_table_without_rows_and_without_columns():
    assert markdown_table(("a",), []) == "| a |\n|---|"
    assert markdown_table(iter(["a", "b"]), iter([[1, 2]])) == "| a | b |\n|---|---|\n| 1 | 2 |"
    with pytest.raises(ValueError, match="column"):
        markdown_table([], [[1]])


def test_md_table_is_ipython_markdown_of_the_same_text():
    from IPython.display import Markdown

    table = md_table(["method", "nats"], [["kl", "1.02"]])
    assert isinstance(table, Markdown)
    assert table.data == "| method | nats |\n|---|---|\n| kl | 1.02 |"
    assert table._repr_markdown_() == table.data


def test_md_table_matches_the_chapters_former_copies():
    """The helper the chapters defined before (four identical copies; the fifth also escaped '|')."""
    def former(header, rows):
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        return "\n".join(lines)

    header = ["layer", "width", "ΔI(X;L) [nats]", "z"]
    rows = [[1, 784, f"{-0.123:+.3f}", 2.5], ["softmax", 10, "—", "**NO**"]]
    assert md_table(header, rows).data == former(header, rows)


# --------------------------------------------------------------------------- figures
def _figure(width=8.0, height=3.0):
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [0, 1, 4], label="curve")
    ax.set_title("a title", fontsize=20)
    ax.set_xlabel("n", fontsize=4)
    ax.legend(fontsize=3)
    ax.tick_params(labelsize=5)
    ax.text(0.5, 0.5, "", fontsize=2)  # empty: left alone
    return fig, ax


def test_save_figure_writes_a_png_of_the_figure(tmp_path):
    fig, _ = _figure()
    path = save_figure(fig, "fig-test-curve", tmp_path / "new" / "folder")
    assert path == tmp_path / "new" / "folder" / "fig-test-curve.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    height, width = image.shape[:2]
    # 8 x 3 inches at 150 dpi, trimmed to the drawn area by bbox_inches="tight"
    assert 0.6 * 8 * 150 < width < 1.1 * 8 * 150
    assert 0.6 * 3 * 150 < height < 1.2 * 3 * 150
    assert image[..., :3].std() > 0.01  # something was drawn, not a blank canvas
    twice = imread(save_figure(fig, "fig-test-curve-300", tmp_path, dpi=300))
    assert abs(twice.shape[1] / width - 2.0) < 0.05


def test_save_figure_raises_small_fonts_to_nine_pixels_at_the_shown_width(tmp_path):
    fig, ax = _figure(width=8.0)
    assert all(t.get_text() for t in ax.get_xticklabels())  # tick labels get their text when asked for
    save_figure(fig, "fig-text", tmp_path)
    floor = 9 * 72 * 8.0 / SHOWN_PX["text"]  # 6.48 pt: 9 px when 8 inches are shown 800 px wide
    assert ax.xaxis.label.get_fontsize() == pytest.approx(floor)
    assert ax.get_legend().get_texts()[0].get_fontsize() == pytest.approx(floor)
    assert all(t.get_fontsize() == pytest.approx(floor) for t in ax.get_xticklabels() if t.get_text())
    assert ax.title.get_fontsize() == 20  # larger text stays
    assert [t.get_fontsize() for t in ax.texts] == [2]  # an empty text is not touched

    fig, ax = _figure(width=8.0)
    save_figure(fig, "fig-full", tmp_path, shown="full")
    assert ax.xaxis.label.get_fontsize() == pytest.approx(9 * 72 * 8.0 / 1000)

    fig, ax = _figure(width=5.0)
    save_figure(fig, "fig-px", tmp_path, shown=600, min_font_px=12)
    assert ax.xaxis.label.get_fontsize() == pytest.approx(12 * 72 * 5.0 / 600)

    fig, ax = _figure()
    save_figure(fig, "fig-as-is", tmp_path, shown=None)
    assert ax.xaxis.label.get_fontsize() == 4 and ax.get_legend().get_texts()[0].get_fontsize() == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig-as-is.png", "fig-full.png", "fig-px.png",
                                                           "fig-text.png"]


def test_save_figure_rejects_bad_names_and_widths(tmp_path):
    fig, _ = _figure()
    for name in ["", "fig-a.png", "../fig-a", "sub/fig-a", 3]:
        with pytest.raises(ValueError, match="figure name"):
            save_figure(fig, name, tmp_path)
    for shown in ["wide", 0, -800, True]:
        with pytest.raises(ValueError, match="shown"):
            save_figure(fig, "fig-a", tmp_path, shown=shown)
    assert not list(tmp_path.iterdir())


def test_figure_dir_follows_the_builder_or_defaults_per_chapter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(report.FIG_DIR_ENV, raising=False)
    assert figure_dir("theory") == Path("_build/figures/theory") and (tmp_path / "_build/figures/theory").is_dir()
    assert figure_dir() == Path("_build/figures")
    target = tmp_path / "fresh" / "mnist"
    monkeypatch.setenv("IBCORE_FIG_DIR", str(target))
    assert figure_dir("mnist") == target and target.is_dir()
    fig, _ = _figure()
    assert save_figure(fig, "fig-default-folder") == target / "fig-default-folder.png"
    assert (target / "fig-default-folder.png").read_bytes()[:8] == PNG_MAGIC


# --------------------------------------------------------------------------- place in the package and the book
def test_report_is_a_ground_module():
    tree = ast.parse((ROOT / "ibcore" / "report.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    ibcore_imports = {m for m in imported if m.split(".")[0] == "ibcore"}
    assert ibcore_imports <= {"ibcore.result", "ibcore.validation"}
    assert all(n.level == 0 for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))
    assert {m.split(".")[0] for m in imported} <= {"__future__", "os", "re", "pathlib", "numpy", "matplotlib",
                                                   "IPython", "ibcore"}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapters_use_the_shared_helpers(chapter):
    import jupytext

    nb = jupytext.read(ROOT / "book" / f"{chapter}.md")
    code = "\n".join("\n".join(line for line in c.source.splitlines() if not line.lstrip().startswith(("%", "!")))
                     for c in nb.cells if c.cell_type == "code")
    tree = ast.parse(code)
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert not defined & {"md_table", "save", "save_figure", "markdown_table"}, f"{chapter} defines its own copy"
    imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "ibcore.report"
               for a in n.names}
    assert "md_table" in imports
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "md_table" in calls
    if chapter != "reproducing":  # the appendix draws no figure
        assert {"save_figure", "figure_dir"} <= imports and "save_figure" in calls
