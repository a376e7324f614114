#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# tests/fleet/run.sh BUILD_DIR [WORK_DIR] [--keep] [N...]: the Docker
# fleet tests (test_fleet.py) on images built from BUILD_DIR.  When no
# Docker engine answers it prints why and exits 77 (skipped); otherwise
# it installs what the tests need (scripts/lib/deps.sh group "fleet":
# docker-compose, tc, nsenter; VMF_DEPS_SKIP=1 skips that), then runs
# them.  WORK_DIR (default
# BUILD_DIR/fleet-work) gets the packages, the secrets and, after a
# failure, the containers' logs (compose.log).
# Exit: 0 passed, 1 failed, 2 usage, 77 skipped.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
case "${1:-}" in
    -h|--help) sed -n '4,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    '') echo "usage: tests/fleet/run.sh BUILD_DIR [WORK_DIR] [--keep] [N...]" >&2
        exit 2 ;;
esac
build=$1
shift
work=$build/fleet-work
case "${1:-}" in
    ''|--*|[0-9]) ;;
    *) work=$1; shift ;;
esac

if ! command -v docker >/dev/null 2>&1; then
    echo "SKIP: fleet tests: no docker command (no Docker engine here)"
    exit 77
fi
if ! why=$(timeout 20 docker info --format '{{.ServerVersion}}' 2>&1); then
    echo "SKIP: fleet tests: no Docker engine answers: $why"
    exit 77
fi
# shellcheck source=scripts/lib/deps.sh
. "$root/scripts/lib/deps.sh"
vmf_deps fleet >"$build/fleet-deps.log" 2>&1 || {
    echo "tests/fleet: cannot install the fleet packages" \
        "(see $build/fleet-deps.log)" >&2
    exit 1
}
rm -rf "$work"
exec /usr/bin/python3 "$here/test_fleet.py" "$build" "$work" "$@"
