#!/usr/bin/env bash
# Set up and run the whole test suite, against SQLite and a throwaway PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
pgdir=$(mktemp -d /tmp/ballot-pg.XXXXXX)
chmod 755 "$pgdir"
trap 'scripts/pg.sh stop "$pgdir"' EXIT
BALLOT_TEST_PG_URL=$(scripts/pg.sh start "$pgdir")
export BALLOT_TEST_PG_URL
export BALLOT_TEST_REQUIRE_PG=1
.venv/bin/python -m pytest -n 2 "$@"
