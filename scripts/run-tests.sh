#!/usr/bin/env bash
# Runs the whole suite on SQLite, then again on PostgreSQL when one is reachable, and says which ran.
set -uo pipefail
PY="${VENV:-.venv}/bin/python"
PG_URL="${FINSANDBOX_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"

echo "== test suite on SQLite"
FINSANDBOX_TEST_DB=sqlite "$PY" -m pytest "$@"
sqlite_rc=$?

if "$PY" - "$PG_URL" <<'PYEOF' >/dev/null 2>&1
import sys, psycopg
psycopg.connect(sys.argv[1].replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3).close()
PYEOF
then
  echo "== test suite on PostgreSQL"
  FINSANDBOX_TEST_DB=postgresql FINSANDBOX_TEST_POSTGRES_URL="$PG_URL" "$PY" -m pytest "$@"
  pg_rc=$?
  ran="SQLite and PostgreSQL"
else
  pg_rc=0
  ran="SQLite only (PostgreSQL not reachable at ${PG_URL##*@})"
fi

echo "== ran the suite on: $ran (exit codes: sqlite=$sqlite_rc postgresql=$pg_rc)"
[ "$sqlite_rc" -eq 0 ] && [ "$pg_rc" -eq 0 ]
