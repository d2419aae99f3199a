#!/usr/bin/env bash
# The official MCP Python SDK in a virtualenv at DIR, for msb-mcp's tests: the client an
# agent host really uses. Does nothing where it is there already.
#   tests/mcp/venv.sh DIR
set -euo pipefail
dir=${1:?usage: venv.sh DIR}
if "$dir/bin/python" -c 'import mcp' 2>/dev/null; then
    exit 0
fi
python3 -m venv "$dir"
"$dir/bin/pip" install --quiet --disable-pip-version-check 'mcp==2.3.0'
