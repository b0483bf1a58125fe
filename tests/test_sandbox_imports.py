"""Which scientific packages experiments can import: probed for real in the sandbox, told to the planner and
shown by `doctor`, cached in the home until the interpreter's packages change (issue 25, item 10).

The interpreters are real venvs made here (`python -m venv --without-pip`, no network); their packages are
real folders on sys.path, one of them broken the way a half-installed wheel is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.lab import lab

from agent_scientist.contracts import Toolbox
from agent_scientist.experiments.runner import RunnerCapability
from agent_scientist.sandbox import detect
from agent_scientist.sandbox.report import IMPORTS_CACHE, LAB_PACKAGES, importable, packages_line

needs_ns = pytest.mark.needs_sandbox(bool(detect().unshare), "user namespaces")


@pytest.fixture
def venv(tmp_path: Path) -> tuple[Path, Path]:
    """(python, site-packages) of a fresh venv holding scikit-learn (imports) and pandas (found, but broken)."""
    root = tmp_path / "lab-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    site = next(root.glob("lib/python3*/site-packages"))
    (site / "sklearn").mkdir()
    (site / "sklearn" / "__init__.py").write_text("__version__ = '0.0'\n")
    (site / "pandas").mkdir()
    (site / "pandas" / "__init__.py").write_text("raise ImportError('pandas C extension missing')\n")
    return root / "bin" / "python", site


def test_only_what_really_imports_in_the_sandbox_is_listed(venv, home: Path) -> None:
    python, _ = venv
    settings = lab(home, sandbox_python=str(python)).settings
    assert importable(settings) == ["scikit-learn"]  # pandas is found by find_spec but fails to import
    line = packages_line(settings)
    assert line == "Scientific packages experiments can import: scikit-learn (and the standard library); use no other."
    for absent in ("numpy", "pandas", "scipy", "torch", "matplotlib"):
        assert absent not in line


def test_this_programs_own_interpreter_lists_what_it_has(home: Path) -> None:
    settings = lab(home).settings  # sandbox_python defaults to this interpreter
    outside = subprocess.run([sys.executable, "-c", "import importlib, sys\nfor n in sys.argv[1:]:\n"
                              "    try:\n        importlib.import_module(n); print(n)\n    except Exception: pass",
                              *(n for n, _ in LAB_PACKAGES)], capture_output=True, text=True, timeout=300)
    names = dict(LAB_PACKAGES)
    assert importable(settings) == [names[n] for n in outside.stdout.split()]
    assert "numpy" in importable(settings)  # a dependency of this program


def test_planner_instructions_and_doctor_name_the_packages(venv, home: Path) -> None:
    python, _ = venv
    ctx = lab(home, sandbox_python=str(python))
    box = Toolbox()
    RunnerCapability().register(ctx, box)
    assert "Scientific packages experiments can import: scikit-learn (and the standard library); use no other." \
        in box.instructions
    checks = {name: (ok, detail) for name, ok, detail in RunnerCapability().doctor_checks(ctx.settings)}
    ok, detail = checks["sandbox packages"]
    assert ok is True
    assert detail.startswith("experiments can import scikit-learn; not importable: numpy, scipy, pandas, "
                             "matplotlib, torch")
    assert str(python) in detail  # where to install them


def test_a_venv_without_any_says_standard_library_only(tmp_path: Path, home: Path) -> None:
    root = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    settings = lab(home, sandbox_python=str(root / "bin" / "python")).settings
    assert importable(settings) == []
    assert packages_line(settings) == ("Experiments have the standard library only: none of the usual scientific "
                                       "packages is installed.")


def test_the_answer_is_cached_until_the_packages_change(venv, home: Path) -> None:
    python, site = venv
    settings = lab(home, sandbox_python=str(python)).settings
    assert importable(settings) == ["scikit-learn"]
    cache = home / IMPORTS_CACHE
    entries = json.loads(cache.read_text())
    assert len(entries) == 1 and entries[0]["key"][0] == str(python)
    entries[0]["found"] = ["scipy"]  # what a second probe would never say: seen only if the cache is read
    cache.write_text(json.dumps(entries))
    assert importable(settings) == ["scipy"]
    (site / "torch").mkdir()  # a package installed since: site-packages changed, so it is probed again
    (site / "torch" / "__init__.py").write_text("")
    assert importable(settings) == ["scikit-learn", "torch"]
    cache.write_text("{not json")  # a damaged cache is probed again and rewritten, not an error
    assert importable(settings) == ["scikit-learn", "torch"]
    assert json.loads(cache.read_text())[0]["found"] == ["scikit-learn", "torch"]


@needs_ns
def test_a_package_that_imports_outside_but_not_in_the_sandbox_is_not_listed(venv, home: Path) -> None:
    """The probe runs with a run's restrictions: a package that writes next to itself on import (read-only in the
    sandbox) imports outside and fails inside."""
    python, site = venv
    (site / "matplotlib").mkdir()
    (site / "matplotlib" / "__init__.py").write_text("open(__file__ + '.cache', 'w').close()\n")
    outside = subprocess.run([str(python), "-c", "import matplotlib"], capture_output=True, timeout=60)
    assert outside.returncode == 0
    assert importable(lab(home, sandbox_python=str(python)).settings) == ["scikit-learn"]
