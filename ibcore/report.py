"""Tables and figures for the book's chapters: one Markdown table helper and one figure saver.

Every chapter of ``book/`` shows its tables with :func:`md_table` and writes its figures with
:func:`save_figure` into :func:`figure_dir`, the folder the book builder (``book/_build_book.py``)
passes in ``$IBCORE_FIG_DIR`` (a fresh folder per chapter, whose files it checks against
``book/figures.yml``). A ground module: it imports no stage of ibcore.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib.text

__all__ = ["FIG_DIR_ENV", "MIN_FONT_PX", "SHOWN_PX", "figure_dir", "markdown_table", "md_table", "save_figure"]

FIG_DIR_ENV = "IBCORE_FIG_DIR"
"""Environment variable through which the book builder names a chapter's figure folder."""

SHOWN_PX = {"text": 800, "full": 1000}
"""Widths in CSS pixels at which the book shows a figure: ``"text"``, the text column (at least
800 px in a 1280-px window), and ``"full"``, a cell tagged ``full-width`` (the text column and the
page contents, at least 1000 px)."""

MIN_FONT_PX = 9
"""The smallest text, in pixels at the shown width, that :func:`save_figure` leaves in a figure."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def figure_dir(chapter: str | None = None) -> Path:
    """The folder a chapter writes its figures to (created when missing).

    Parameters
    ----------
    chapter : str, optional
        The chapter's file stem (e.g. ``"estimators"``); it names the default folder.

    Returns
    -------
    pathlib.Path
        ``$IBCORE_FIG_DIR`` when set (the book builder sets a fresh folder per chapter),
        otherwise ``_build/figures/<chapter>`` (or ``_build/figures`` without a chapter)
        relative to the working directory, as in an interactive run from the repository root.

    Examples
    --------
    >>> folder = figure_dir("theory")   # $IBCORE_FIG_DIR, or _build/figures/theory
    >>> folder.is_dir()
    True
    """
    default = Path("_build", "figures", chapter) if chapter else Path("_build", "figures")
    path = Path(os.environ.get(FIG_DIR_ENV) or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def markdown_table(header, rows) -> str:
    """The text of a Markdown (GFM pipe) table.

    Parameters
    ----------
    header : sequence
        Column titles.
    rows : iterable of sequences
        The cells of each row; every cell is written with ``str``. A ``|`` inside a title or a
        cell (e.g. ``|AE − latent|``) is escaped as ``\\|`` so that it does not split the cell.

    Returns
    -------
    str
        One line per row, the header and its ``|---|`` separator first, joined by newlines.

    Examples
    --------
    >>> print(markdown_table(["n", "|error|"], [[10, 0.5], [100, "0.05"]]))
    | n | \\|error\\| |
    |---|---|
    | 10 | 0.5 |
    | 100 | 0.05 |
    """
    header = list(header)
    if not header:
        raise ValueError("markdown_table needs at least one column title")

    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header)] + [line(row) for row in rows])


def md_table(header, rows):
    """A Markdown table for a notebook cell to ``display``.

    Parameters
    ----------
    header, rows
        As for :func:`markdown_table`.

    Returns
    -------
    IPython.display.Markdown
        The table (its text is ``.data``); Jupyter and Jupyter Book render it as a table.

    Examples
    --------
    >>> md_table(["method", "nats"], [["kl", "1.02"]]).data
    '| method | nats |\\n|---|---|\\n| kl | 1.02 |'
    """
    try:
        from IPython.display import Markdown
    except ImportError as exc:  # IPython comes with the book extra (ipykernel)
        raise ImportError("md_table needs IPython (pip install 'ibcore[book]'); "
                          "markdown_table gives the text") from exc
    return Markdown(markdown_table(header, rows))


def save_figure(fig, name: str, directory=None, *, shown="text", min_font_px: float = MIN_FONT_PX,
                dpi: int = 150) -> Path:
    """Save a figure as ``<directory>/<name>.png`` with no text too small to read where it is shown.

    Before saving, every non-empty text of the figure (titles, labels, tick labels, legends,
    annotations) smaller than ``min_font_px`` pixels at the shown width is raised to that size:
    a figure ``w`` inches wide shown ``W`` pixels wide needs a font of at least
    ``min_font_px * 72 * w / W`` points. Larger texts are left alone.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    name : str
        Its name in the book (``fig-...``, the name of its ``mystnb`` figure metadata and of its
        entry in ``book/figures.yml``); the file is ``<name>.png``.
    directory : str or pathlib.Path, optional
        The folder (created when missing); default :func:`figure_dir` ``()``.
    shown : {"text", "full"}, float or None
        The width at which the book shows the figure: ``"text"`` (the text column, 800 px),
        ``"full"`` (a ``full-width`` cell, 1000 px; see :data:`SHOWN_PX`), a width in pixels, or
        ``None`` to leave every font as it is.
    min_font_px : float
        The smallest text, in pixels at the shown width (default 9).
    dpi : int
        Resolution of the PNG (default 150), with ``bbox_inches="tight"``.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import tempfile, matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(8, 3))
    >>> _ = ax.set_title("small", fontsize=4)
    >>> path = save_figure(fig, "fig-example", tempfile.mkdtemp())
    >>> path.name, ax.title.get_fontsize()   # 9 px at 800 px for 8 inches: 6.48 pt
    ('fig-example.png', 6.48)
    """
    if not isinstance(name, str) or not _NAME.match(name) or name.lower().endswith(".png"):
        raise ValueError(f"figure name must be a plain file stem such as 'fig-some-words', got {name!r}")
    if shown is not None:
        if isinstance(shown, str):
            if shown not in SHOWN_PX:
                raise ValueError(f"shown must be one of {sorted(SHOWN_PX)}, a width in pixels or None, got {shown!r}")
            width_px = SHOWN_PX[shown]
        elif isinstance(shown, (int, float)) and not isinstance(shown, bool) and shown > 0:
            width_px = shown
        else:
            raise ValueError(f"shown must be one of {sorted(SHOWN_PX)}, a width in pixels or None, got {shown!r}")
        floor = min_font_px * 72 * fig.get_size_inches()[0] / width_px
        for text in fig.findobj(matplotlib.text.Text):
            if text.get_text() and text.get_fontsize() < floor:
                text.set_fontsize(floor)
    folder = Path(directory) if directory is not None else figure_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
