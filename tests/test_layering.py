"""The architecture's import rules: checked statically over every import statement in the
source (function-level lazy imports included), and at run time in fresh interpreters."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "src" / "astroi2i"

#: what each layer may import from astroi2i (besides itself and the package root, which holds
#: only ``__version__``); a layer not listed may import nothing of astroi2i's but ``errors``
BASE = {"errors"}
ALLOWED = {
    "errors": set(),
    "registry": BASE,
    "description": BASE,
    "baselines": BASE,
    "io": BASE,
    "sky": BASE | {"io"},
    "metrics": BASE | {"sky", "io", "baselines"},
    "sources": BASE | {"sky", "io", "registry"},
    "data": BASE | {"sky", "io", "registry", "baselines"},
    "nn": BASE,
    "archs": BASE | {"nn", "registry", "baselines"},
    "losses": BASE | {"archs", "nn", "registry"},
    "systems": BASE | {"archs", "losses", "nn", "registry"},
    "config": BASE | {"registry", "systems", "data", "sky"},
    "workflows": BASE | {"registry", "description", "baselines", "io", "sky", "metrics",
                         "sources", "data", "nn", "archs", "losses", "systems", "config"},
    "cli": None,  # anything: the CLI only parses and calls workflows
}  # fmt: skip


def _layer(parts: tuple[str, ...]) -> str:
    return parts[0].removesuffix(".py")


def upward_imports(path: Path, source: str | None = None) -> list[str]:
    """``path:line imports X`` for every import of ``path`` (a file under src/astroi2i) that
    its layer may not make, wherever in the file the statement stands."""
    rel = path.relative_to(ROOT)
    layer = _layer(rel.parts)
    if layer in ("__init__", "__main__"):
        return []
    allowed = ALLOWED.get(layer, BASE)
    if allowed is None:
        return []
    tree = ast.parse(source if source is not None else path.read_text())
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "astroi2i" or len(parts) == 1:
                continue
            target = parts[1]
            if target != layer and target not in allowed:
                bad.append(f"{rel}:{node.lineno} imports {name} ({layer} may not import {target})")
    return bad


def test_no_upward_imports_anywhere_in_the_source():
    bad = [b for f in sorted(ROOT.rglob("*.py")) for b in upward_imports(f)]
    assert not bad, "\n".join(bad)


def test_check_sees_a_lazy_upward_import():
    """A function-level import from a higher layer, the kind a run-time check misses."""
    source = "import numpy\n\ndef f():\n    from astroi2i.workflows.export import load_model\n"
    bad = upward_imports(ROOT / "systems" / "example.py", source)
    assert bad == [
        "systems/example.py:4 imports astroi2i.workflows.export (systems may not import workflows)"
    ]
    assert upward_imports(ROOT / "workflows" / "example.py", source) == []


def test_every_layer_is_known():
    layers = {_layer(p.relative_to(ROOT).parts) for p in ROOT.rglob("*.py")}
    assert layers - {"__init__", "__main__"} <= set(ALLOWED)


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
