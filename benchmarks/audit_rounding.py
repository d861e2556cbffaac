"""How far do the audited numbers move between instruction sets, against the audit's tolerances?

Runs ``ibcore audit --json`` on every ``results/*/`` folder once per setting of the CPU kernels
that this machine can run (each in a fresh subprocess, since the settings are read at start-up):

* ``native``: the kernels torch, MKL and OpenBLAS pick for this CPU;
* ``ATEN_CPU_CAPABILITY=default``: torch's kernels without AVX2/AVX-512 vectorisation;
* ``ATEN_CPU_CAPABILITY=avx2`` and ``=avx512`` (the latter only where the CPU has AVX-512);
* ``MKL_ENABLE_INSTRUCTIONS=SSE4_2``: MKL (torch's matrix products) without AVX;
* ``ONEDNN_MAX_CPU_ISA=SSE41``: oneDNN (torch's convolutions) without AVX;
* ``OPENBLAS_CORETYPE=Prescott``: numpy and scipy's OpenBLAS (PCA, whitening) on generic kernels;
* ``all generic``: the four above at once, the farthest this machine gets from its own kernels.

For each setting it reports how many checks agree, the largest difference of a recomputed number
from its stored value, and the largest ratios of that difference to the number's rounding
``spread`` (what the audit's perturbations moved it by) and to its tolerance
(``max(TOLERANCE, SAFETY * spread)``, :mod:`ibcore.reproduce.audit`). A ratio to the tolerance
below 1 everywhere is what CI needs on any CPU; the ratio to the spread says how much of the
safety factor the instruction sets use. Writes ``benchmarks/audit_rounding.md``.

    python benchmarks/audit_rounding.py                 # every folder of results/
    python benchmarks/audit_rounding.py results/cpu     # one folder
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from ibcore.reproduce.provenance import cpu_model

ROOT = Path(__file__).resolve().parents[1]
# the audit's own threads: one, as CI's audit runs
BASE_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
FLOOR = 1e-4  # the audit's default TOLERANCE


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def settings() -> list[tuple[str, dict]]:
    """(name, environment) of every setting this CPU can run."""
    out = [("native", {}), ("ATEN_CPU_CAPABILITY=default", {"ATEN_CPU_CAPABILITY": "default"}),
           ("ATEN_CPU_CAPABILITY=avx2", {"ATEN_CPU_CAPABILITY": "avx2"})]
    if "avx512f" in cpu_flags():
        out.append(("ATEN_CPU_CAPABILITY=avx512", {"ATEN_CPU_CAPABILITY": "avx512"}))
    generic = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41",
               "OPENBLAS_CORETYPE": "Prescott"}
    out += [(f"{k}={v}", {k: v}) for k, v in generic.items() if k != "ATEN_CPU_CAPABILITY"]
    out.append(("all generic", generic))
    return out


def run_audit(folders, extra_env: dict) -> tuple[list[dict], float, int]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "OPENBLAS_CORETYPE")}
    env.update(BASE_ENV, **extra_env)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ibcore", "audit", "--json", *map(str, folders)], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    checks = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            report = json.loads(line)
            name = Path(report["folder"]).resolve()
            name = name.relative_to(ROOT) if name.is_relative_to(ROOT) else name
            checks += [dict(c, folder=str(name)) for c in report["checks"]]
    if not checks:
        raise RuntimeError(f"the audit printed no checks (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return checks, seconds, proc.returncode


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def summarise(name: str, checks: list[dict], seconds: float) -> dict:
    worst_diff, worst_spread, worst_tol = (0.0, ""), (0.0, ""), (0.0, "")
    for c in checks:
        diff = abs(_num(c["now"]) - _num(c["stored"]))
        tol, spread = _num(c["tolerance"]), _num(c["spread"])
        if math.isnan(diff) or math.isnan(tol):
            continue
        label = f"{c['folder']} {c['part']}: {c['what']}"
        worst_diff = max(worst_diff, (diff, label))
        if tol > FLOOR:  # where the spread sets the tolerance (elsewhere the floor does)
            worst_spread = max(worst_spread, (diff / spread, label))
        worst_tol = max(worst_tol, (diff / tol, label))
    return {"setting": name, "checks": len(checks), "agree": sum(bool(c["ok"]) for c in checks),
            "max_diff": worst_diff, "max_diff_over_spread": worst_spread, "max_diff_over_tol": worst_tol,
            "seconds": seconds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="*", help="stored-results folders (default: every results/*/)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "audit_rounding.md"))
    args = ap.parse_args(argv)
    folders = [Path(f) for f in args.folders] or sorted(p.parent for p in (ROOT / "results").glob("*/provenance.json"))
    rows, ill = [], {}
    for name, extra in settings():
        checks, seconds, rc = run_audit(folders, extra)
        rows.append(summarise(name, checks, seconds))
        r = rows[-1]
        print(f"{name}: {r['agree']}/{r['checks']} agree, max |diff| {r['max_diff'][0]:.1e}, "
              f"max |diff|/spread (tolerance above the floor) {r['max_diff_over_spread'][0]:.2f}, max |diff|/tolerance "
              f"{r['max_diff_over_tol'][0]:.3f} ({seconds:.0f} s, exit {rc})", flush=True)
        for c in checks:  # the numbers whose tolerance is above the floor: the ill-conditioned ones
            tol = _num(c["tolerance"])
            if tol > FLOOR:
                key = f"{c['folder']} {c['what']}"
                ill.setdefault(key, {})[name] = (abs(_num(c["now"]) - _num(c["stored"])), _num(c["spread"]), tol)
    lines = [
        "# Audited numbers across instruction sets",
        "",
        f"`python benchmarks/audit_rounding.py` on {platform.machine()} ({cpu_model()}, {os.cpu_count()} cores), "
        f"AVX-512: {'yes' if 'avx512f' in cpu_flags() else 'no'}; folders: "
        + ", ".join(f"`{f.resolve().relative_to(ROOT) if f.resolve().is_relative_to(ROOT) else f}`"
                    for f in folders) + ".",
        "Each row is one run of `ibcore audit` under one setting of the CPU kernels; the stored numbers were "
        "made on an AVX2 CPU (AMD EPYC, torch's AVX2 kernels). Ratios: |stored − recomputed| over the "
        "number's rounding spread (the largest change the audit's perturbations made), over the numbers "
        "whose tolerance the spread sets (above the 1e-4 floor), and over its tolerance "
        "(`max(1e-4, 10 × spread)`, `ibcore/reproduce/audit.py`), over all numbers.",
        "",
        "| setting | checks agree | max abs. difference | max difference / spread (tolerance above the floor) | max difference / tolerance | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['agree']} of {r['checks']} | {r['max_diff'][0]:.1e} | "
                     f"{r['max_diff_over_spread'][0]:.2f} | {r['max_diff_over_tol'][0]:.3f} | {r['seconds']:.0f} |")
    lines += ["", "Largest differences: " + "; ".join(f"{r['setting']}: {r['max_diff'][1]}" for r in rows
                                                      if r["max_diff"][0] > 0) + ".", ""]
    if ill:
        names = [n for n, _ in settings()]
        lines += ["## Numbers whose tolerance is above the 1e-4 floor",
                  "",
                  "| number | " + " | ".join(names) + " |",
                  "|---|" + "---:|" * len(names)]
        for key, per in sorted(ill.items()):
            cells = []
            for n in names:
                if n in per:
                    d, sp, tol = per[n]
                    cells.append(f"{d:.1e} (spread {sp:.1e}, tol. {tol:.1e})")
                else:
                    cells.append("—")
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
        lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0 if all(r["agree"] == r["checks"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
