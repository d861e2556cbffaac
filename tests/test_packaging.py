"""Packaging and book-source consistency: environment.yml vs pyproject.toml, the table of contents,
the chapters (jupytext MyST notebooks without outputs, one ``parameters`` cell) and the params files."""
from __future__ import annotations

import ast
import importlib.util
import sys
import tomllib
from pathlib import Path

import jupytext
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PARAM_FILES = sorted((ROOT / "params").glob("*.yaml"))


def load_build_script():
    spec = importlib.util.spec_from_file_location("_build_book", ROOT / "book" / "_build_book.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_build_book", module)
    spec.loader.exec_module(module)
    return module


build = load_build_script()


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def merged(requirements) -> dict[str, set[str]]:
    """name -> set of version specifiers, merged over repeated entries."""
    out: dict[str, set[str]] = {}
    for line in requirements:
        req = Requirement(line)
        assert not req.marker and not req.extras, f"unexpected marker/extras in {line!r}"
        out.setdefault(canonicalize_name(req.name), set()).update(str(s) for s in req.specifier)
    return out


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def env_pip_lines() -> list[str]:
    pips = [d["pip"] for d in environment()["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pips) == 1, "environment.yml must have exactly one pip: section"
    return pips[0]


# --------------------------------------------------------------------------- environment.yml
def test_environment_yml_matches_pyproject():
    meta = pyproject()["project"]
    wanted = merged(meta["dependencies"] + [r for extra in meta["optional-dependencies"].values() for r in extra])
    conda = [d for d in environment()["dependencies"] if isinstance(d, str)]
    conda_pkgs = [d for d in conda if canonicalize_name(Requirement(d).name) not in ("python", "pip")]
    listed = merged([line for line in env_pip_lines() if not line.startswith("-e")] + conda_pkgs)
    missing = sorted(set(wanted) - set(listed))
    extra = sorted(set(listed) - set(wanted))
    assert not missing and not extra, f"environment.yml lacks {missing}, has extra {extra}"
    differ = {name: (wanted[name], listed[name]) for name in wanted if wanted[name] != listed[name]}
    assert not differ, f"version specifiers differ (pyproject, environment.yml): {differ}"


def test_environment_yml_python_and_editable_install():
    conda = {canonicalize_name(Requirement(d).name): Requirement(d) for d in environment()["dependencies"]
             if isinstance(d, str)}
    assert "python" in conda and "pip" in conda
    assert str(conda["python"].specifier) == pyproject()["project"]["requires-python"]
    assert "-e ." in env_pip_lines()


def test_pins_are_exact_and_installed_by_nox():
    extras = pyproject()["project"]["optional-dependencies"]
    pins = merged(extras["pins"])
    assert pins and all(len(s) == 1 and next(iter(s)).startswith("==") for s in pins.values())
    # noxfile.EXTRAS (parsed, since nox itself is not installed in the shared venv) must name every extra
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    value = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 and any(getattr(t, "id", None) == "EXTRAS" for t in node.targets))
    assert set(value.split(",")) == set(extras)


# --------------------------------------------------------------------------- book sources
def test_toc_pages_exist_and_chapters_are_found():
    pages = build.toc_files()
    assert pages[0] == "book/intro"
    for page in pages:
        assert page.startswith("book/") and (ROOT / f"{page}.md").is_file(), f"{page}.md is missing"
    chapters = build.chapters()
    assert "estimators" in chapters
    assert not list((ROOT / "book").glob("*.ipynb")), "book/ must hold MyST sources only, no .ipynb"


@pytest.mark.parametrize("name", sorted(build.chapters()))
def test_chapter_is_myst_notebook_without_outputs(name):
    path = build.chapters()[name]
    meta = build.front_matter(path)
    assert meta["jupytext"]["text_representation"]["format_name"] == "myst"
    assert meta["kernelspec"]["name"] == "python3"
    nb = jupytext.read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cells"
    for cell in code:
        assert not cell.get("outputs") and cell.get("execution_count") is None, f"{name} stores outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name} needs exactly one cell tagged 'parameters', has {len(tagged)}"
    assert build.chapter_parameters(path), f"{name}: the parameters cell assigns nothing"


def test_toc_order_theory_first_reproducing_after_every_chapter():
    """The appendix reads the execution report of the chapters run before it, so it comes last."""
    pages = [p.split("/")[-1] for p in build.toc_files()]
    executable = list(build.chapters())
    assert pages[0] == "intro" and pages[1] == "theory"
    assert executable[-1] == "reproducing", f"chapters run in toc order; reproducing must be last: {executable}"
    assert pages[-1] == "references"


def test_prose_pages_have_no_code_cells():
    for page in build.toc_files():
        path = ROOT / f"{page}.md"
        if not build.is_notebook(path):
            assert "{code-cell}" not in path.read_text(), f"{page}.md has code cells but no kernelspec"


# --------------------------------------------------------------------------- params files
def _kind(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


@pytest.mark.parametrize("params_file", PARAM_FILES, ids=[p.name for p in PARAM_FILES])
def test_params_files_set_only_chapter_parameters(params_file):
    assert {p.name for p in PARAM_FILES} >= {"ci.yaml", "paper.yaml"}
    chapters = build.chapters()
    sections = build.load_params(params_file, chapters)  # raises BookError on unknown chapters/names
    assert sections, f"{params_file.name} sets nothing"
    for chapter, section in sections.items():
        defaults = build.chapter_parameters(chapters[chapter])
        for key, value in section.items():
            if defaults[key] is not None:
                assert _kind(value) == _kind(defaults[key]), (
                    f"{params_file.name}: {chapter}.{key} = {value!r} does not match the default {defaults[key]!r}")


def test_params_validation_rejects_flat_mapping_and_unknown_names(tmp_path):
    chapters = build.chapters()
    flat = tmp_path / "flat.yaml"
    flat.write_text("n: 100\n")
    with pytest.raises(build.BookError, match="not a chapter"):
        build.load_params(flat, chapters)
    typo = tmp_path / "typo.yaml"
    typo.write_text("estimators:\n  n_sample: 100\n")
    with pytest.raises(build.BookError, match="n_sample"):
        build.load_params(typo, chapters)


def test_parameters_cell_parsing(tmp_path):
    header = ("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
              "    format_version: 0.13\n"
              "kernelspec:\n  name: python3\n  display_name: Python 3\n---\n\n")
    cell = "```{{code-cell}} ipython3\n:tags: [parameters]\n\n{}\n```\n\n"
    good = tmp_path / "good.md"
    good.write_text(header + cell.format("a = 1  # x = y in a comment\nb: list = [1, 2]\nc = None"))
    assert build.is_notebook(good)
    assert build.chapter_parameters(good) == {"a": 1, "b": [1, 2], "c": None}
    two = tmp_path / "two.md"
    two.write_text(header + cell.format("a = 1") + cell.format("b = 2"))
    with pytest.raises(build.BookError, match="exactly one"):
        build.chapter_parameters(two)
    computed = tmp_path / "computed.md"
    computed.write_text(header + cell.format("a = len('abc')"))
    with pytest.raises(build.BookError, match="literal"):
        build.chapter_parameters(computed)
