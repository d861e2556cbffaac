"""Where a stored result came from: the code, the packages, the machine and the parameters.

A stored result (``results/<params-name>/``) carries a ``provenance.json`` written by
:func:`ibcore.reproduce.store`: per part (``synthetic``, ``mnist``) the git commit of the code
that made it (and whether the work tree had uncommitted changes), the versions of the packages
that decide its numbers, the device and CPU, the wall time, the parameters section it ran with
and that section's hash. The audit refuses a folder whose parameters file no longer hashes to
the stored value: the numbers would then describe a file that says something else.
"""
from __future__ import annotations

import datetime
import hashlib
import importlib.metadata as md
import json
import os
import platform
import subprocess
from pathlib import Path

__all__ = ["params_hash", "read_section", "code_state", "environment", "PROVENANCE_NAME", "read_provenance", "cpu_model"]

PROVENANCE_NAME = "provenance.json"
_PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "torchvision", "zuko", "distributed")


def read_section(params_file, section: str) -> dict:
    """The ``section`` mapping of a YAML parameters file (``params/<name>.yaml``)."""
    import yaml

    path = Path(params_file)
    if not path.is_file():
        raise ValueError(f"no parameters file {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not isinstance(data.get(section), dict):
        raise ValueError(f"{path} has no section {section!r} (sections: {sorted(data) if isinstance(data, dict) else []})")
    return dict(data[section])


def params_hash(section: dict) -> str:
    """SHA-256 of a parameters section in canonical JSON (sorted keys): equal sections, equal hash."""
    text = json.dumps(section, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def code_state(root=None) -> dict:
    """``{"commit": ..., "dirty": bool}`` of the git work tree holding ``root`` (default: this
    package's checkout); ``commit`` is ``None`` outside a git checkout."""
    root = Path(root or Path(__file__).resolve().parents[2])

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        status = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str) -> dict:
    """Package versions, Python, platform, CPU and the device the work ran on."""
    versions = {"python": platform.python_version()}
    for name in ("ibcore", *_PACKAGES):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    machine = {"platform": platform.platform(), "cpu": cpu_model(), "cpu_count": os.cpu_count(), "device": device}
    if device.startswith("cuda"):
        import torch

        machine["gpu"] = torch.cuda.get_device_name(0)
    return {"versions": versions, "machine": machine,
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def read_provenance(folder) -> dict:
    """The ``provenance.json`` of a stored-results folder (``ValueError`` naming what is wrong)."""
    path = Path(folder) / PROVENANCE_NAME
    try:
        data = json.loads(path.read_text())
    except OSError:
        raise ValueError(f"{folder} holds no {PROVENANCE_NAME}: not a stored-results folder "
                         "(make one with `ibcore store`)") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != "ibcore-stored-results/1":
        raise ValueError(f"{path} was not written by `ibcore store` (format)")
    return data
