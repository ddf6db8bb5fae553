"""Checks on docker/compose.yaml that its JSON schema cannot express.

The compose-spec schema (run by lint.sh through check-jsonschema) checks shapes and names;
this checks references between parts, which is where hand-edited compose files usually break:
every ``depends_on`` names a service, every named volume is declared, bind-mounted files and
the build context exist, images are pinned, published ports stay on loopback, and the
silkwatch service keeps the settings its shutdown and scheduling rely on.

Usage: python docker/check_compose.py [docker/compose.yaml]   (exit 1 and a list on problems)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def problems(compose: dict[str, Any], folder: Path) -> list[str]:
    found: list[str] = []
    services: dict[str, Any] = compose.get("services") or {}
    volumes = set((compose.get("volumes") or {}).keys())
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        for dep in deps if isinstance(deps, dict | list) else []:
            if dep not in services:
                found.append(f"{name}: depends_on names unknown service {dep!r}")
        for mount in _list(svc.get("volumes")):
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source")
            if not source:
                continue
            if source.startswith((".", "/")):
                if source.startswith(".") and not (folder / source).exists():
                    found.append(f"{name}: bind mount source {source} does not exist")
            elif source not in volumes:
                found.append(f"{name}: volume {source!r} is not declared under volumes:")
        for port in _list(svc.get("ports")):
            if not str(port).startswith("127.0.0.1:"):
                found.append(f"{name}: port {port} is published beyond loopback")
        image = svc.get("image", "")
        if "build" in svc:
            build = svc["build"]
            context = folder / (build.get("context", ".") if isinstance(build, dict) else build)
            dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else ""
            if not context.is_dir():
                found.append(f"{name}: build context {context} does not exist")
            elif dockerfile and not (context / dockerfile).is_file():
                found.append(f"{name}: Dockerfile {dockerfile} not found in {context}")
        elif ":" not in image or image.endswith(":latest"):
            found.append(f"{name}: image {image!r} is not pinned to a version tag")
    sw = services.get("silkwatch")
    if sw is None:
        found.append("no silkwatch service")
    else:
        env = sw.get("environment") or {}
        if "PREFECT_API_URL" not in env:
            found.append("silkwatch: PREFECT_API_URL must point at the prefect service")
        if sw.get("init") is not True:
            found.append("silkwatch: init: true is needed to reap finished flow-run processes")
    return found


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else Path(__file__).with_name("compose.yaml"))
    compose = yaml.safe_load(path.read_text(encoding="utf-8"))
    found = problems(compose, path.resolve().parent)
    for problem in found:
        print(f"{path}: {problem}")
    if not found:
        print(f"{path}: references ok ({len(compose.get('services', {}))} services)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
