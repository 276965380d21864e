"""The top-level integrations/ folder must install as jfml_tracking.integrations.

Checked in a fresh virtual environment, for both a regular (wheel) and an editable install,
because setuptools' package-dir mapping behaves differently in the two.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", out, REPO)
    (built,) = out.glob("jfml_tracking-*.whl")
    return built


def _fresh_venv(path: Path) -> Path:
    _run(sys.executable, "-m", "venv", "--without-pip", path)
    return path / "bin" / "python"


def _where_integrations(python: Path, cwd: Path) -> str:
    code = "import jfml_tracking.integrations as m; print(m.__file__)"
    return _run(python, "-c", code, cwd=cwd).strip()


def test_wheel_contains_integrations_under_the_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "jfml_tracking/integrations/__init__.py" in names
    assert not any(n.startswith("integrations/") for n in names)


def test_regular_install_maps_integrations(wheel: Path, tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", wheel)
    where = _where_integrations(python, cwd=tmp_path)
    assert "site-packages/jfml_tracking/integrations/__init__.py" in where


def test_editable_install_maps_integrations(tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv")
    # The build runs isolated here: the fresh venv has no setuptools of its own.
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-e", REPO)
    where = _where_integrations(python, cwd=tmp_path)
    assert Path(where) == REPO / "integrations" / "__init__.py"


def test_every_package_folder_is_listed_for_setuptools() -> None:
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "jfml_tracking").rglob("__init__.py")
    }
    found |= {
        "jfml_tracking.integrations"
        + "".join("." + part for part in p.parent.relative_to(REPO / "integrations").parts)
        for p in (REPO / "integrations").rglob("__init__.py")
    }
    assert found == listed, "list new packages in [tool.setuptools] packages of pyproject.toml"
