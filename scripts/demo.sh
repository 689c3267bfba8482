#!/usr/bin/env bash
# `make demo`: the main job, end to end, on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
kvstack validate --stack dev
kvstack plan --stack dev
