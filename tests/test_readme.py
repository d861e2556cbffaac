"""The README's Python examples run as written (in a temporary directory)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    from ibcore.compression import registry as compressors
    from ibcore.estimators import registry as estimators

    for table in (estimators._TABLE, compressors._TABLE):  # an example may register a method: undo it after
        list(table)
        monkeypatch.setattr(table, "_specs", dict(table._specs))
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), {"__name__": "readme"})
    if "savefig" in BLOCKS[index]:
        saved = re.findall(r'savefig\("([^"]+)"\)', BLOCKS[index])
        assert saved and all(os.path.getsize(tmp_path / f) > 0 for f in saved)
