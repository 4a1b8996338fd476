"""The architecture's import rules, checked in fresh interpreters."""

import subprocess
import sys

import pytest


def _modules_after(import_line: str) -> set[str]:
    code = f"import sys; {import_line}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in out.stdout.split()}


@pytest.mark.parametrize("package", ["astroi2i.io", "astroi2i.sky", "astroi2i.metrics"])
def test_sky_side_never_imports_torch(package):
    assert "torch" not in _modules_after(f"import {package}")


@pytest.mark.parametrize("package", ["astroi2i.archs", "astroi2i.losses", "astroi2i.nn"])
def test_network_side_never_imports_astropy(package):
    assert "astropy" not in _modules_after(f"import {package}")


def test_package_import_is_light():
    loaded = _modules_after("import astroi2i")
    assert not loaded & {"torch", "astropy", "lightning", "numpy"}
