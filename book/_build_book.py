"""Execute every chapter of the ibcore book and build the HTML offline.

Pipeline (see README "How the book is built" and the ``book`` session of ``noxfile.py``):

1. read ``_toc.yml``; a page whose front matter declares a jupytext ``kernelspec`` is a
   *chapter* (an executable MyST notebook), any other page is prose and is copied as is;
2. stage ``book/`` into ``_build/src/book/`` (chapters are converted, not copied: an ``.md``
   and an ``.ipynb`` with the same stem would clash) and ``book/_static/`` into
   ``_build/src/_static/``, whose stylesheets Jupyter Book links into every page;
3. per chapter: ``jupytext`` -> ``.ipynb``; ``papermill`` (kernel ``python3`` of this
   interpreter, working directory = repository root, parameters = the chapter's section of
   the params file); papermill's injected-parameters cell is tagged ``hide-cell``;
   each chapter gets ``IBCORE_FIG_DIR=_build/figures/<chapter>`` (emptied first) for its figures;
   chapters run ``--jobs`` at a time (default: 2, or 1 on a one-core machine), each in its own
   process with one BLAS/OpenMP thread when several run at once (the chapters train on one
   torch thread anyway), longest first by the last build's timings; a chapter that reads the
   others' results (``READS_OTHERS``: the "Reproducing the paper" appendix) runs after all of
   them;
4. ``jupyter-book build _build/src --config ABS/_config.yml --toc ABS/_toc.yml
   --path-output _build/site -W --keep-going``; the HTML lands in ``_build/site/_build/html``.

Figures: ``book/figures.yml`` (the manifest) lists, per chapter, every figure it shows. After a
chapter runs, the builder checks that each listed figure was written as ``<name>.png`` to the
chapter's fresh figure directory during this run, that no unlisted figure was written, and that the
executed notebook shows it in a cell with ``mystnb: figure:`` metadata of that name and a caption
(and shows no image without such metadata). Any problem fails the build like a failed chapter.

Report: ``_build/reports/execution.json`` is rewritten after every chapter (so a later chapter, such
as the "Reproducing the paper" appendix, can read the timings of the earlier ones; its path is in
``$IBCORE_EXECUTION_REPORT``): the parameters file and the ``-p`` overrides, start time, machine,
each chapter's seconds, whether it ran in this build, its figures and any manifest problem.

Params files (``params/ci.yaml``, ``params/paper.yaml``) are YAML mappings with one top-level
key per chapter (the chapter's file stem, e.g. ``estimators``); each value is the flat mapping
of parameter overrides for that chapter (the form papermill's ``-f`` takes). Every name must
be assigned in the chapter's ``parameters`` cell, and a value must be of the kind of the cell's
default (bool, number, str, list, dict; anything where the default is ``None``); a chapter with no
section runs with its defaults. A chapter that raises (for example a failed closed-form assertion)
fails the build with a message naming the chapter; its partially executed notebook stays in
``_build/executed/``.

Overrides on the command line, papermill's habit: ``-p NAME VALUE`` (repeatable) sets ``NAME`` in
every chapter being built (all, or those of ``--only``) whose parameters cell assigns it, over the
params file. ``VALUE`` is an int or a float when it reads as one (``5``, ``1e-4``), ``None`` for
``None``, otherwise YAML (``true``, ``[16, 32]``, ``'"5"'`` for the string ``5``, else a plain
string). The names and kinds are checked as for params files, and a name that no chapter being
built assigns is an error.

Usage: ``python book/_build_book.py [--params params/ci.yaml] [--only CHAPTER ...]
[-p NAME VALUE ...] [--no-html]`` (normally through ``nox -s book -- ...``), e.g.
``nox -s book -- --only mnist -p epochs 5``.
"""
from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
TOC = ROOT / "_toc.yml"
CONFIG = ROOT / "_config.yml"
DEFAULT_PARAMS = ROOT / "params" / "ci.yaml"
MANIFEST = BOOK / "figures.yml"
FIGURE_NAME = re.compile(r"^fig-[a-z0-9]+(-[a-z0-9]+)*$")
DEFAULT_BUILD = ROOT / "_build"
SITE = "site"  # jupyter-book's --path-output, inside the build folder
#: chapters that read the other chapters' results and timings: they run after all the others
READS_OTHERS = ("reproducing",)
#: thread settings of a chapter's process when several chapters run at once (one core each)
_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def html_dir(build: Path = DEFAULT_BUILD) -> Path:
    """Where the HTML lands: jupyter-book writes ``<path-output>/_build/html`` (published by
    ``.github/workflows/book.yml``)."""
    return Path(build) / SITE / "_build" / "html"


class BookError(RuntimeError):
    """A problem with the book sources or parameters (reported without a traceback)."""


def rel(path: Path) -> str:
    """``path`` relative to the repository root when it lies inside it (for messages)."""
    path = Path(path)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# --------------------------------------------------------------------------- sources
def toc_files(toc_path: Path = TOC) -> list[str]:
    """Page paths (relative to the source root, no suffix) in ``_toc.yml`` order."""
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("chapters", "sections", "parts"):
                walk(entry.get(key))

    for key in ("chapters", "parts"):
        walk(toc.get(key))
    return files


def page_source(page: str) -> Path:
    """The Markdown source of a toc entry such as ``book/estimators``."""
    path = ROOT / f"{page}.md"
    if not path.is_file():
        raise BookError(f"_toc.yml lists {page!r} but {rel(path)} does not exist")
    return path


def front_matter(path: Path) -> dict:
    text = path.read_text()
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    if end < 0:
        return {}
    return yaml.safe_load(text[4:end]) or {}


def is_notebook(path: Path) -> bool:
    """True when ``path`` is a jupytext MyST notebook (front matter with a kernelspec)."""
    meta = front_matter(path)
    rep = meta.get("jupytext", {}).get("text_representation", {})
    # jupytext reads the file as MyST only when both the format and the extension are declared
    return "kernelspec" in meta and rep.get("format_name") == "myst" and rep.get("extension") == ".md"


def chapters(toc_path: Path = TOC) -> dict[str, Path]:
    """Executable chapters: ``{stem: source path}`` in toc order."""
    out = {}
    for page in toc_files(toc_path):
        src = page_source(page)
        if is_notebook(src):
            out[src.stem] = src
    return out


def parameters_cell(path: Path) -> str:
    """Source of the single cell tagged ``parameters`` of a chapter."""
    import jupytext

    nb = jupytext.read(path)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise BookError(f"{rel(path)} must have exactly one cell tagged 'parameters', has {len(cells)}")
    return cells[0].source


def chapter_parameters(path: Path) -> dict:
    """``{name: default}`` for the names the parameters cell assigns (literals only)."""
    tree = ast.parse(parameters_cell(path))
    params = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if not isinstance(t, ast.Name):
                raise BookError(f"{path.name}: the parameters cell may only assign plain names")
            try:
                params[t.id] = ast.literal_eval(node.value)
            except ValueError as exc:
                raise BookError(f"{path.name}: parameter {t.id!r} must be a literal ({exc})") from None
    return params


def load_params(params_path: Path, chapter_paths: dict[str, Path]) -> dict[str, dict]:
    """Per-chapter overrides from a params file, validated against the parameters cells."""
    data = yaml.safe_load(Path(params_path).read_text()) or {}
    if not isinstance(data, dict):
        raise BookError(f"{params_path}: expected a mapping of chapter name -> parameters")
    out = {}
    for name, section in data.items():
        if name not in chapter_paths:
            raise BookError(
                f"{params_path}: top-level key {name!r} is not a chapter (chapters: {sorted(chapter_paths)}); "
                "params files hold one section per chapter, e.g. 'estimators: {n: 1000}'"
            )
        section = section or {}
        if not isinstance(section, dict):
            raise BookError(f"{params_path}: section {name!r} must be a mapping of parameter -> value")
        defined = chapter_parameters(chapter_paths[name])
        unknown = sorted(set(section) - set(defined))
        if unknown:
            raise BookError(
                f"{params_path}: chapter {name!r} has no parameter(s) {unknown}; "
                f"its parameters cell defines {sorted(defined)}"
            )
        for key, value in section.items():
            check_kind(f"{params_path}: {name}.{key}", value, defined[key])
        out[name] = section
    return out


def value_kind(value) -> str:
    """The kind a parameter value must keep: ``bool``, ``number`` (int or float), or the type name."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def check_kind(where: str, value, default) -> None:
    """Raise ``BookError`` when ``value`` is not of the kind of the cell's ``default`` (any kind
    replaces a default of ``None``)."""
    if default is not None and value_kind(value) != value_kind(default):
        hint = " (quote a string in YAML, e.g. '\"5\"')" if isinstance(default, str) else ""
        raise BookError(f"{where} = {value!r} is a {value_kind(value)}, but the parameters cell's default "
                        f"{default!r} is a {value_kind(default)}{hint}")


_NUMBER = re.compile(r"[-+]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][-+]?\d+)?")


def parse_value(text: str):
    """A ``-p`` value: an int or a float when ``text`` reads as one (``5``, ``1e-4``, which YAML 1.1
    would keep as a string), ``None`` for ``None``, otherwise ``yaml.safe_load(text)`` (``true``,
    ``[16, 32]``, ``'"5"'``; a plain string when that gives nothing but a date or the like)."""
    stripped = text.strip()
    if _NUMBER.fullmatch(stripped):
        for number in (int, float):
            try:
                return number(stripped)
            except ValueError:
                pass
    if stripped == "None":  # papermill's spelling
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BookError(f"-p: cannot read the value {text!r} ({exc.__class__.__name__})") from None
    if not isinstance(value, (bool, int, float, str, list, dict, type(None))):
        return text  # e.g. a date: keep what was typed
    return value


def parse_overrides(pairs) -> dict:
    """``{name: value}`` from the ``-p NAME VALUE`` pairs in order (a repeated name: the last wins)."""
    out = {}
    for name, text in pairs or []:
        if not name.isidentifier():
            raise BookError(f"-p {name!r}: a parameter name is a Python identifier (e.g. -p epochs 5)")
        out[name] = parse_value(text)
    return out


def apply_overrides(params: dict[str, dict], overrides: dict, chapter_paths: dict[str, Path],
                    building) -> dict[str, dict]:
    """The params-file sections with the ``-p`` overrides on top, for the chapters being built.

    Every override goes to each chapter in ``building`` whose parameters cell assigns its name, and
    must be of the kind of that chapter's default; a name that none of them assigns is an error.
    """
    out = {name: dict(section) for name, section in params.items()}
    building = [name for name in chapter_paths if name in set(building)]
    defined = {name: chapter_parameters(chapter_paths[name]) for name in building} if overrides else {}
    for key, value in overrides.items():
        targets = [name for name in building if key in defined[name]]
        if not targets:
            elsewhere = [name for name in chapter_paths if name not in building
                         and key in chapter_parameters(chapter_paths[name])]
            raise BookError(
                f"-p {key}: no chapter being built ({building}) has a parameter {key!r}"
                + (f"; it is a parameter of {elsewhere} (add them to --only)" if elsewhere else "")
            )
        for name in targets:
            check_kind(f"-p {key}: chapter {name!r}: {key}", value, defined[name][key])
            out.setdefault(name, {})[key] = value
    return out


# --------------------------------------------------------------------------- figure manifest
def load_manifest(chapter_paths: dict[str, Path], path: Path = MANIFEST) -> tuple[dict[str, list[dict]], list[str]]:
    """``({chapter: [entry, ...]}, notes)`` from the figure manifest, validated.

    Every executable chapter of the toc needs a section (an empty list when it shows no figure);
    figure names are unique over the book and look like ``fig-words-with-dashes``. Sections for
    chapters that are not in the toc are dropped with a note (a chapter may be added later).
    """
    if not path.is_file():
        raise BookError(f"the figure manifest {rel(path)} is missing")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise BookError(f"{rel(path)}: expected a mapping of chapter name -> list of figures")
    out, notes, seen = {}, [], {}
    for chapter, entries in data.items():
        if not isinstance(entries, list):
            raise BookError(f"{rel(path)}: section {chapter!r} must be a list of figures (or [])")
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise BookError(f"{rel(path)}: {chapter}: every figure needs a 'name', got {entry!r}")
            name = entry["name"]
            if not FIGURE_NAME.match(name):
                raise BookError(f"{rel(path)}: {chapter}: figure name {name!r} must look like 'fig-some-words'")
            if name in seen:
                raise BookError(f"{rel(path)}: figure {name!r} is listed under both {seen[name]!r} and {chapter!r}")
            seen[name] = chapter
            unknown = sorted(set(entry) - {"name", "paper", "shows"})
            if unknown:
                raise BookError(f"{rel(path)}: {chapter}/{name}: unknown keys {unknown} (allowed: name, paper, shows)")
        if chapter in chapter_paths:
            out[chapter] = entries
        else:
            notes.append(f"manifest section {chapter!r} is not a chapter of _toc.yml; ignored")
    missing = sorted(set(chapter_paths) - set(out))
    if missing:
        raise BookError(f"{rel(path)} has no section for chapter(s) {missing}; list their figures (or [])")
    return out, notes


def notebook_figures(nb_path: Path) -> tuple[dict[str, str], list[str]]:
    """``({figure name: caption}, problems)`` of an executed notebook.

    A figure is a code cell with ``mystnb: figure: {name, caption}`` metadata; a cell whose
    outputs hold an image without that metadata is a problem (an unnamed, uncaptioned figure).
    """
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    named, problems = {}, []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        fig = (cell.metadata.get("mystnb") or {}).get("figure") or {}
        images = sum(1 for o in cell.get("outputs", []) if o.get("output_type") in ("display_data", "execute_result")
                     and any(k.startswith("image/") for k in o.get("data", {})))
        if fig:
            name, caption = fig.get("name"), str(fig.get("caption") or "").strip()
            if not name:
                problems.append(f"cell {i}: figure metadata without a name")
                continue
            if not caption:
                problems.append(f"figure {name!r} (cell {i}) has no caption")
            if images != 1:
                problems.append(f"figure {name!r} (cell {i}) shows {images} images, expected exactly 1")
            named[name] = caption
        elif images:
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            problems.append(f"cell {i} ({first!r}) shows {images} image(s) without `mystnb: figure:` name and caption")
    return named, problems


def check_figures(chapter: str, nb_path: Path, figdir: Path, entries: list[dict], since: float) -> list[str]:
    """Problems of one executed chapter against its manifest entries (empty list: all good).

    ``since`` is the wall-clock time (``time.time()``) at which the chapter started: every
    listed figure file must be at least that new.
    """
    wanted = [e["name"] for e in entries]
    problems = []
    files = {p.stem: p for p in figdir.glob("*") if p.is_file()}
    for name in wanted:
        png = figdir / f"{name}.png"
        if not png.is_file():
            problems.append(f"figure {name!r} was not saved as {rel(png)}")
        elif png.stat().st_mtime < since - 1.0:  # 1 s: coarse file-system timestamps
            problems.append(f"figure {name!r} ({rel(png)}) is older than this run")
    extra = sorted(set(files) - set(wanted))
    if extra:
        problems.append(f"figure file(s) {extra} are not listed under {chapter!r} in {rel(MANIFEST)}")
    named, nb_problems = notebook_figures(nb_path)
    problems += nb_problems
    for name in wanted:
        if name not in named:
            problems.append(f"figure {name!r} is not shown by a cell with `mystnb: figure: name: {name}`")
    unlisted = sorted(set(named) - set(wanted))
    if unlisted:
        problems.append(f"the chapter shows figure(s) {unlisted} that {rel(MANIFEST)} does not list")
    return [f"{chapter}: {p}" for p in problems]


# --------------------------------------------------------------------------- execution
def kernel_dir(build: Path) -> Path:
    """A private ``python3`` kernelspec bound to this interpreter.

    It goes first on ``JUPYTER_PATH`` so that a user-level kernelspec (``ipykernel install
    --user`` from some other environment) can never run the chapters with the wrong Python.
    """
    spec = build / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ibcore book)", "language": "python",
    }, indent=1))
    return build / "jupyter"


def hide_injected_parameters(nb_path: Path, out_path: Path) -> None:
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "hide-cell" not in tags:
            cell.metadata["tags"] = tags + ["hide-cell"]
    nbformat.write(nb, out_path)


def execute_chapter(name: str, src: Path, params: dict, build: Path,
                    one_thread: bool = False) -> tuple[float, str | None]:
    """Run one chapter in a fresh figure directory; return (seconds, error message or None).

    It sets the environment its kernel inherits (the figure directory; with ``one_thread``, one
    BLAS/OpenMP thread unless already set), so with several chapters at once each runs in its
    own process (:func:`execute_chapters`).
    """
    import jupytext
    import nbformat
    import papermill as pm

    if one_thread:
        for var in _ONE_THREAD:
            os.environ.setdefault(var, "1")

    work = build / "executed"
    work.mkdir(parents=True, exist_ok=True)
    unexecuted = work / f"{name}.input.ipynb"
    executed = work / f"{name}.ipynb"
    nbformat.write(jupytext.read(src), unexecuted)
    figdir = build / "figures" / name
    shutil.rmtree(figdir, ignore_errors=True)  # figures must be regenerated by this run
    figdir.mkdir(parents=True)
    os.environ["IBCORE_FIG_DIR"] = str(figdir)
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(unexecuted), str(executed), parameters=params, kernel_name="python3",
                            cwd=str(ROOT), progress_bar=False, log_output=False)
    except pm.PapermillExecutionError as exc:
        return time.perf_counter() - t0, (
            f"chapter {name!r} ({rel(src)}) failed in cell {exc.exec_count}: "
            f"{exc.ename}: {exc.evalue}\n    executed notebook with the traceback: {executed}"
        )
    except Exception as exc:  # kernel died, bad notebook, ...
        return time.perf_counter() - t0, f"chapter {name!r} ({rel(src)}) could not run: {exc!r}"
    return time.perf_counter() - t0, None


def execution_order(names: list[str], previous_seconds: dict) -> list[list[str]]:
    """Waves of chapters: first every chapter not in ``READS_OTHERS``, longest first by the last
    build's timings (unknown ones first, in book order), then each of ``READS_OTHERS``."""
    first = [n for n in names if n not in READS_OTHERS]
    first.sort(key=lambda n: -previous_seconds.get(n, float("inf")))  # stable: book order on ties
    return [first] + [[n] for n in names if n in READS_OTHERS]


def execute_chapters(jobs_list: list[tuple[str, Path, dict]], build: Path, jobs: int, on_done) -> None:
    """Execute ``(name, src, params)`` chapters, ``jobs`` at a time; ``on_done(name, seconds,
    error)`` runs in this process as each finishes."""
    if jobs <= 1 or len(jobs_list) <= 1:
        for name, src, params in jobs_list:
            print(f"book: executing {name} ...", flush=True)
            on_done(name, *execute_chapter(name, src, params, build))
        return
    import concurrent.futures
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter per chapter: its own environment
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        print(f"book: executing {', '.join(n for n, _, _ in jobs_list)}, {jobs} at a time ...", flush=True)
        futures = {pool.submit(execute_chapter, name, src, params, build, True): name
                   for name, src, params in jobs_list}
        for fut in concurrent.futures.as_completed(futures):
            try:
                seconds, error = fut.result()
            except Exception as exc:  # the worker process died
                seconds, error = 0.0, f"chapter {futures[fut]!r} could not run: {exc!r}"
            on_done(futures[fut], seconds, error)


def run_jupyter_book(build: Path) -> None:
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else (shutil.which("jupyter-book") or "jupyter-book"),
           "build", str(build / "src"), "--config", str(CONFIG), "--toc", str(TOC),
           "--path-output", str(build / SITE), "-W", "--keep-going"]
    print("+", " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        raise BookError("jupyter-book build failed (warnings are errors under -W); see the messages above")


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default=str(DEFAULT_PARAMS),
                    help="YAML with one section per chapter (default: params/ci.yaml; paper scale: params/paper.yaml)")
    ap.add_argument("--only", action="extend", nargs="+", metavar="CHAPTER",
                    help="execute only these chapters; the others reuse their last executed notebook")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", dest="overrides", metavar=("NAME", "VALUE"),
                    help="set parameter NAME to VALUE in every chapter being built whose parameters cell assigns "
                         "it, over the params file (repeatable; papermill's -p). VALUE: an int or float when it "
                         "reads as one (5, 1e-4), None, else YAML (true, [16, 32], '\"5\"' for a string). "
                         "Checked like the params files: the name must exist and the value keep the default's "
                         "kind; recorded in _build/reports/execution.json")
    ap.add_argument("--no-html", action="store_true", help="execute the chapters but skip jupyter-book")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="chapters executed at once, each in its own process (default: 2, or 1 on one core)")
    ap.add_argument("--build-dir", default=str(DEFAULT_BUILD), help="output folder (default: _build)")
    ap.epilog = ("example: nox -s book -- --only mnist -p epochs 5 -p lr 1e-4   "
                 "(the HTML lands in <build-dir>/site/_build/html)")
    args = ap.parse_args(argv)

    build = Path(args.build_dir).resolve()
    params_path = Path(args.params)
    if not params_path.is_absolute():
        params_path = (Path.cwd() / params_path) if (Path.cwd() / params_path).exists() else ROOT / params_path
    try:
        chapter_paths = chapters()
        if not chapter_paths:
            raise BookError("_toc.yml lists no executable chapter")
        params = load_params(params_path, chapter_paths)
        manifest, manifest_notes = load_manifest(chapter_paths)
        only = set(args.only or chapter_paths)
        unknown = sorted(only - set(chapter_paths))
        if unknown:
            raise BookError(f"--only: unknown chapter(s) {unknown}; chapters: {sorted(chapter_paths)}")
        if args.jobs < 1:
            raise BookError(f"--jobs must be at least 1, got {args.jobs}")
        overrides = parse_overrides(args.overrides)
        params = apply_overrides(params, overrides, chapter_paths, only)
    except BookError as exc:
        print(f"book: error: {exc}", file=sys.stderr)
        return 2

    # the kernels must pick matplotlib's inline backend: an inherited MPLBACKEND=Agg would hide every figure
    os.environ.pop("MPLBACKEND", None)
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(kernel_dir(build))] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p])
    os.environ["IBCORE_PARAMS"] = str(params_path)
    reports = build / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    report_path = reports / "execution.json"
    os.environ["IBCORE_EXECUTION_REPORT"] = str(report_path)
    print(f"book: parameters from {params_path}", flush=True)
    if overrides:
        print("book: overrides: " + ", ".join(f"{k}={v!r}" for k, v in overrides.items()), flush=True)
    for note in manifest_notes:
        print(f"book: note: {note}", flush=True)

    src_root = build / "src"
    shutil.rmtree(src_root, ignore_errors=True)
    (src_root / "book").mkdir(parents=True)
    for item in BOOK.iterdir():
        if item.name.startswith(("_", ".")) or item in chapter_paths.values() or item.suffix == ".ipynb":
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, src_root / "book" / item.name)
    if (BOOK / "_static").is_dir():
        # Jupyter Book serves <source>/_static and links every stylesheet in it (the book's CSS)
        shutil.copytree(BOOK / "_static", src_root / "_static")

    previous = {}
    if report_path.is_file():
        try:
            previous = json.loads(report_path.read_text())
        except ValueError:
            previous = {}
    report = {
        "params": str(params_path),
        "overrides": overrides,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "finished": None,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.machine(), "cpu_count": os.cpu_count()},
        "seconds": {}, "executed": {}, "figures": {}, "manifest_problems": {},
    }

    def write_report():
        report["figures"] = {name: sorted(p.name for p in (build / "figures" / name).glob("*") if p.is_file())
                             for name in chapter_paths if (build / "figures" / name).is_dir()}
        report_path.write_text(json.dumps(report, indent=1) + "\n")

    failures = []
    t_all = time.perf_counter()
    for name in chapter_paths:
        if name in only:
            continue
        if not (build / "executed" / f"{name}.ipynb").exists():
            print(f"book: error: --only skips {name!r} but it was never executed; run it once", file=sys.stderr)
            return 2
        # reused from an earlier build: keep its recorded time, mark it as not run now
        if name in previous.get("seconds", {}):
            report["seconds"][name] = previous["seconds"][name]
        report["executed"][name] = False

    def done(name, seconds, error):
        executed = build / "executed" / f"{name}.ipynb"
        report["seconds"][name] = round(seconds, 1)
        report["executed"][name] = True
        if not error:
            problems = check_figures(name, executed, build / "figures" / name, manifest[name], starts[name])
            if problems:
                report["manifest_problems"][name] = problems
                error = "figure manifest check failed:\n      " + "\n      ".join(problems)
        print(f"book: {name}: {'FAILED' if error else 'ok'} in {seconds:.1f} s", flush=True)
        if error:
            failures.append(error)
        write_report()  # a later chapter may read the timings of the chapters before it

    starts = {}
    for wave in execution_order([n for n in chapter_paths if n in only], previous.get("seconds", {})):
        write_report()
        for name in wave:
            starts[name] = time.time()
        execute_chapters([(n, chapter_paths[n], params.get(n, {})) for n in wave], build, args.jobs, done)
    for name in chapter_paths:  # a failed chapter's notebook is never built: the build stops below
        executed = build / "executed" / f"{name}.ipynb"
        if executed.exists():
            hide_injected_parameters(executed, src_root / "book" / f"{name}.ipynb")
    report["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    write_report()

    if failures:
        print("\nbook: FAILED: " + "\n      ".join(failures), file=sys.stderr)
        return 1
    print(f"book: all chapters executed in {time.perf_counter() - t_all:.1f} s", flush=True)
    if args.no_html:
        return 0
    t0 = time.perf_counter()
    try:
        run_jupyter_book(build)
    except BookError as exc:
        print(f"book: error: {exc}", file=sys.stderr)
        return 1
    print(f"book: HTML built in {time.perf_counter() - t0:.1f} s: "
          f"{html_dir(build) / 'index.html'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
