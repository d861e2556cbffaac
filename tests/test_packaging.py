"""Packaging and book-source consistency: environment.yml vs pyproject.toml, the table of contents,
the chapters (jupytext MyST notebooks without outputs, one ``parameters`` cell), the params files and
the ``-p`` overrides of the book builder, and the GitHub Pages workflow."""
from __future__ import annotations

import ast
import importlib.util
import json
import re
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


def test_params_validation_rejects_a_value_of_another_kind(tmp_path):
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("mnist:\n  epochs: five\n")
    with pytest.raises(build.BookError, match=r"mnist\.epochs = 'five' is a str.*default 25 is a number"):
        build.load_params(wrong, build.chapters())
    assert build.value_kind(True) == "bool" and build.value_kind(3) == build.value_kind(0.5) == "number"
    assert build.value_kind([1]) == "list" and build.value_kind("a") == "str"


# --------------------------------------------------------------------------- -p NAME VALUE overrides
@pytest.mark.parametrize("text,value", [
    ("5", 5), ("-3", -3), ("1_000", 1000), ("1e-4", 1e-4), ("1E5", 1e5), ("2.5", 2.5), (".5", 0.5),
    ("true", True), ("False", False), ("None", None), ("null", None), ("[16, 32]", [16, 32]),
    ("{a: 1}", {"a": 1}), ('"5"', "5"), ("'1e-4'", "1e-4"), ("fashion-mnist", "fashion-mnist"),
    ("results/paper", "results/paper"), ("inf", "inf"), ("2024-01-01", "2024-01-01"),
])
def test_override_values_are_parsed_like_papermill_with_yaml(text, value):
    parsed = build.parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_override_pairs_repeat_and_names_are_identifiers():
    assert build.parse_overrides([["epochs", "5"], ["lr", "1e-4"], ["epochs", "7"]]) == {"epochs": 7, "lr": 1e-4}
    assert build.parse_overrides(None) == {}
    with pytest.raises(build.BookError, match="identifier"):
        build.parse_overrides([["n-train", "5"]])


def _chapter(path: Path, parameters: str) -> Path:
    path.write_text("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
                    "kernelspec:\n  name: python3\n  display_name: Python 3\n---\n\n"
                    f"```{{code-cell}} ipython3\n:tags: [parameters]\n\n{parameters}\n```\n")
    return path


def test_overrides_apply_to_every_built_chapter_that_defines_the_name(tmp_path):
    chapters = {"one": _chapter(tmp_path / "one.md", "seed = 0\nn = 100\ndevice = 'auto'\nout = None"),
                "two": _chapter(tmp_path / "two.md", "seed = 1\nepochs = 3\nlr = 1e-3\nsizes = [16]"),
                "three": _chapter(tmp_path / "three.md", "seed = 2\nepochs = 9")}
    params = {"one": {"n": 50, "seed": 4}, "three": {"epochs": 1}}
    overrides = build.parse_overrides([["seed", "7"], ["lr", "1e-4"], ["sizes", "[16, 32]"], ["out", "runs/x"]])
    merged = build.apply_overrides(params, overrides, chapters, ["one", "two"])
    assert merged == {"one": {"n": 50, "seed": 7, "out": "runs/x"},           # wins over the params file
                      "two": {"seed": 7, "lr": 1e-4, "sizes": [16, 32]},
                      "three": {"epochs": 1}}                                 # not built: untouched
    assert params == {"one": {"n": 50, "seed": 4}, "three": {"epochs": 1}}  # the input is not modified
    assert build.apply_overrides(params, {}, chapters, ["one"]) == params
    # an int where the default is a float (and the reverse) is the same kind: a number
    assert build.apply_overrides({}, {"lr": 1}, chapters, ["two"]) == {"two": {"lr": 1}}


def test_overrides_are_checked_like_params_files(tmp_path):
    chapters = {"one": _chapter(tmp_path / "one.md", "seed = 0\nn = 100\ndevice = 'auto'"),
                "two": _chapter(tmp_path / "two.md", "seed = 1\nepochs = 3\nfresh = True")}
    with pytest.raises(build.BookError, match=r"-p n_sample: no chapter being built \(\['one', 'two'\]\)"):
        build.apply_overrides({}, {"n_sample": 5}, chapters, ["two", "one"])
    with pytest.raises(build.BookError, match=r"-p epochs: .*\['one'\].*parameter of \['two'\].*--only"):
        build.apply_overrides({}, {"epochs": 5}, chapters, ["one"])
    with pytest.raises(build.BookError, match=r"chapter 'one': n = 'many' is a str.*number"):
        build.apply_overrides({}, {"n": build.parse_value("many")}, chapters, ["one"])
    with pytest.raises(build.BookError, match=r"chapter 'two': fresh = 1 is a number.*bool"):
        build.apply_overrides({}, {"fresh": 1}, chapters, ["one", "two"])
    with pytest.raises(build.BookError, match=r"device = 5 is a number.*quote a string"):
        build.apply_overrides({}, {"device": 5}, chapters, ["one"])
    with pytest.raises(build.BookError, match=r"chapter 'two': seed = \[1\] is a list"):
        build.apply_overrides({}, {"seed": [1]}, chapters, ["two"])


def test_override_on_the_real_mnist_chapter():
    chapters = build.chapters()
    paper = build.load_params(ROOT / "params" / "paper.yaml", chapters)
    merged = build.apply_overrides(paper, build.parse_overrides([["epochs", "5"], ["lr", "1e-4"]]), chapters, ["mnist"])
    assert merged["mnist"]["epochs"] == 5 and merged["mnist"]["lr"] == 1e-4
    assert {k: v for k, v in merged.items() if k != "mnist"} == {k: v for k, v in paper.items() if k != "mnist"}


def test_main_rejects_a_bad_override_before_running_anything(tmp_path, capsys):
    assert build.main(["--only", "mnist", "-p", "no_such_name", "1", "--build-dir", str(tmp_path / "b")]) == 2
    assert "no_such_name" in capsys.readouterr().err
    assert build.main(["--only", "mnist", "-p", "epochs", "five", "--build-dir", str(tmp_path / "b")]) == 2
    assert "epochs = 'five'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_main_passes_overrides_to_the_chapters_and_records_them(tmp_path, monkeypatch):
    """The builder's wiring, with chapter execution and the figure checks replaced by stubs (one
    chapter at a time: a stub cannot travel to a worker process; `nox -s book` runs the parallel path)."""
    for var in ("JUPYTER_PATH", "IBCORE_PARAMS", "IBCORE_EXECUTION_REPORT", "IBCORE_FIG_DIR"):
        monkeypatch.setenv(var, "")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    ran = {}
    monkeypatch.setattr(build, "execute_chapter", lambda name, src, params, b: (ran.update({name: params}), (0.0, None))[1])
    monkeypatch.setattr(build, "check_figures", lambda *args: [])
    monkeypatch.setattr(build, "hide_injected_parameters", lambda *args: None)
    out = tmp_path / "b"
    assert build.main(["--params", str(ROOT / "params" / "ci.yaml"), "-p", "epochs", "5", "-p", "seed", "3",
                       "--no-html", "--build-dir", str(out), "--jobs", "1"]) == 0
    chapters = build.chapters()
    assert set(ran) == set(chapters)
    for name, path in chapters.items():
        defined = build.chapter_parameters(path)
        for key, value in (("epochs", 5), ("seed", 3)):
            assert (ran[name].get(key) == value) == (key in defined), (name, key)
    report = json.loads((out / "reports" / "execution.json").read_text())
    assert report["params"] == str(ROOT / "params" / "ci.yaml")
    assert report["overrides"] == {"epochs": 5, "seed": 3}
    assert list(report)[:2] == ["params", "overrides"]


# --------------------------------------------------------------------------- GitHub Pages workflow
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def _workflow_steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_pages_workflow_builds_with_the_readme_command_and_publishes_the_builders_html():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as True
    assert "main" in on["push"]["branches"]
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"
    steps = _workflow_steps(workflow)
    runs = [step.get("run", "").strip() for step in steps]
    # the README's commands (its shell blocks, comments dropped), exactly
    readme = (ROOT / "README.md").read_text()
    commands = {line.split("#", 1)[0].strip() for block in re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
                for line in block.splitlines()}
    assert {"python -m pip install nox", "nox -s book"} <= commands
    assert "nox -s book" in runs
    assert "python -m pip install nox" in runs
    assert any("apt-get install" in r and "dataset-fashion-mnist" in r for r in runs)
    assert runs.index("python -m pip install nox") < runs.index("nox -s book")
    python = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
    assert python and str(python[0]["with"]["python-version"]) == "3.11"
    assert any(s.get("uses", "").startswith("actions/checkout@") for s in steps)
    upload = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert len(upload) == 1
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in steps)
    # the uploaded folder is where the builder puts the HTML with its default build folder
    html = build.html_dir(build.DEFAULT_BUILD)
    assert html.relative_to(ROOT).as_posix() == upload[0]["with"]["path"]
    assert build.DEFAULT_BUILD == ROOT / "_build"
