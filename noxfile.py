"""Nox sessions for ibcore: ``nox -s tests``, ``nox -s book`` and ``nox -s audit``.

Both sessions share ONE virtual environment (torch alone is about 6 GB, so one venv per
session would double the disk use and the cold set-up time). The sessions therefore use
``venv_backend="none"`` and manage the shared venv themselves:

* location: ``.venv`` in the repository root, or ``$IBCORE_VENV`` when set;
* created with ``python -m venv`` by the Python that runs nox (or ``$IBCORE_PYTHON``);
* ``pip install -e .[test,book,data,pins]`` runs only when the stamp file
  ``<venv>/.ibcore-env-stamp`` does not match the hash of ``pyproject.toml``, the extras,
  the repository path and the interpreter version; otherwise set-up is a no-op.

``nox -s book`` installs Debian's ``dataset-fashion-mnist`` (the MNIST chapter's data) when it is
missing and it runs as root with apt-get. ``nox -s book -- --params params/paper.yaml`` runs the
book at paper scale; every argument after ``--`` goes to ``book/_build_book.py`` (``--help``
lists them). ``nox -s tests -- -x -k kde`` passes arguments to pytest.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
EXTRAS = "test,book,data,pins"
STAMP_NAME = ".ibcore-env-stamp"

nox.options.sessions = ["tests", "book", "audit"]
nox.options.error_on_missing_interpreters = True


def venv_dir() -> Path:
    return Path(os.environ.get("IBCORE_VENV", ROOT / ".venv")).resolve()


def venv_python(venv: Path) -> Path:
    if platform.system() == "Windows":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def env_fingerprint(python: Path) -> str:
    """Hash of everything that decides what the shared venv must contain."""
    version = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version)"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    h = hashlib.sha256()
    h.update((ROOT / "pyproject.toml").read_bytes())
    # the editable install points at this checkout; a venv shared between clones must reinstall
    for part in (EXTRAS, str(ROOT), version):
        h.update(b"\0" + part.encode())
    return h.hexdigest()


def ensure_env(session: nox.Session) -> Path:
    """Create or refresh the shared venv; return its Python interpreter."""
    venv = venv_dir()
    python = venv_python(venv)
    if not python.exists():
        base = os.environ.get("IBCORE_PYTHON", sys.executable)
        session.log(f"creating the shared environment {venv} with {base}")
        session.run(base, "-m", "venv", str(venv), external=True)
        session.run(str(python), "-m", "pip", "install", "--upgrade", "pip", external=True)
    stamp = venv / STAMP_NAME
    want = env_fingerprint(python)
    if stamp.exists() and stamp.read_text().strip() == want:
        session.log(f"shared environment {venv} is up to date (pyproject.toml unchanged)")
        return python
    session.log(f"installing ibcore[{EXTRAS}] into {venv} (pyproject.toml changed or first run)")
    stamp.unlink(missing_ok=True)
    session.run(str(python), "-m", "pip", "install", "-e", f".[{EXTRAS}]", external=True)
    stamp.write_text(want + "\n")
    return python


def common_env() -> dict[str, str]:
    # headless plotting; no interactive prompts from pip or jupyter
    return {"MPLBACKEND": "Agg", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONUNBUFFERED": "1"}


@nox.session(venv_backend="none")
def env(session: nox.Session) -> None:
    """Only create or refresh the shared environment (``.venv``)."""
    ensure_env(session)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Set up the shared environment and run the test suite (pytest; args after ``--``)."""
    python = ensure_env(session)
    # nox fails the session on any non-zero exit, so pytest's 5 ("no tests collected") fails too
    session.run(str(python), "-m", "pytest", *session.posargs, external=True, env=common_env())


@nox.session(venv_backend="none")
def book(session: nox.Session) -> None:
    """Set up the shared environment, execute every chapter and build the HTML book offline.

    Default parameters: ``params/ci.yaml``. Paper scale: ``nox -s book -- --params params/paper.yaml``.
    """
    python = ensure_env(session)
    ensure_fashion_mnist(session)
    session.run(str(python), str(ROOT / "book" / "_build_book.py"), *session.posargs,
                external=True, env=common_env())


@nox.session(venv_backend="none")
def audit(session: nox.Session) -> None:
    """Recompute a few numbers of every stored-results folder ``results/*/`` with this code
    (``ibcore audit``); fails when one differs from the stored value beyond the tolerance.

    The stored information-plane runs evaluate on Debian's Fashion-MNIST, so it is installed
    first when missing (as for the book). Arguments after ``--`` replace the folders.
    """
    python = ensure_env(session)
    ensure_fashion_mnist(session)
    folders = session.posargs or sorted(str(p.parent) for p in (ROOT / "results").glob("*/provenance.json"))
    if not folders:
        session.error("no stored results under results/ (make them with `ibcore store`)")
    session.run(str(python), "-m", "ibcore", "audit", *folders, external=True, env=common_env())


# where Debian's package puts the files (ibcore.plane.data.FASHION_MNIST_DIR)
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def ensure_fashion_mnist(session: nox.Session) -> None:
    """Install Debian's ``dataset-fashion-mnist`` for the MNIST chapter when it is missing and
    this is root with apt-get; otherwise the chapter falls back to the embedded MNIST digits
    (and says so)."""
    if FASHION_MNIST.is_file():
        return
    apt = shutil.which("apt-get")
    if apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        session.log("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist, as root): "
                    "the MNIST chapter will use the 5,000 embedded MNIST digits instead")
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "--no-install-recommends", "dataset-fashion-mnist"]
    session.log("installing Debian's dataset-fashion-mnist for the MNIST chapter")
    # a fresh machine may have no package lists yet: refresh them only when the install needs it
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run([apt, "update", "-q"], env=env)
        if subprocess.run(install, env=env).returncode != 0:
            session.log("could not install dataset-fashion-mnist: the MNIST chapter will use the "
                        "embedded MNIST digits instead")
