"""docker/: the Dockerfile and compose file pass their linters (they are not built here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parent.parent / "docker"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return path


def test_lint_script_passes():
    """What CI runs: hadolint, the compose-spec schema and the reference checks."""
    _tool("hadolint")
    _tool("check-jsonschema")
    result = subprocess.run(
        ["bash", str(DOCKER / "lint.sh")],
        capture_output=True,
        text=True,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "VENV_BIN": str(BIN)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_reference_check_catches_broken_references(tmp_path: Path):
    sys.path.insert(0, str(DOCKER))
    try:
        from check_compose import problems
    finally:
        sys.path.remove(str(DOCKER))
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert problems(compose, DOCKER) == []
    compose["services"]["silkwatch"]["depends_on"]["prefect-server"] = {
        "condition": "service_healthy"
    }
    compose["services"]["silkwatch"]["volumes"].append("missing-volume:/x")
    compose["services"]["mailpit"]["ports"] = ["8025:8025"]
    found = problems(compose, DOCKER)
    assert any("prefect-server" in p for p in found)
    assert any("missing-volume" in p for p in found)
    assert any("beyond loopback" in p for p in found)


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path):
    """The linter really runs: an unpinned, root, apt-without-cleanup file is rejected."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    result = subprocess.run(
        [_tool("hadolint"), "--config", str(DOCKER / ".hadolint.yaml"), str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # using latest
