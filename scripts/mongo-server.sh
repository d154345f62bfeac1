#!/usr/bin/env bash
# Starts a throw-away SecantusDB server (a MongoDB-compatible test server from PyPI) for the
# berth-state-mongo tests and prints, on stdout, the lines to eval:
#
#   export BERTH_TEST_MONGODB_URI=mongodb://127.0.0.1:PORT/
#   export BERTH_TEST_MONGODB_PID=PID
#   export BERTH_TEST_SECANTUSD=/path/to/scripts/secantusd.py
#
# Usage (from scripts/test.sh):
#   eval "$(scripts/mongo-server.sh)"
#   trap 'kill "$BERTH_TEST_MONGODB_PID" 2>/dev/null' EXIT
#
# Everything else (pip output, server log location) goes to stderr; the server's own log is
# written to $BERTH_TEST_MONGODB_LOG (default: a file beside its temporary storage path).
# The storage directory is removed when the server exits.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BERTH_TEST_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
# Pinned: scripts/secantusd.py adds a transaction reaper to this version's server.
secantus_version=0.7.0b3

if [ ! -x "$venv/bin/python" ]; then
    echo "mongo-server: creating virtualenv $venv" >&2
    "$python" -m venv "$venv" >&2
fi
installed() {
    "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("SecantusDB") != sys.argv[1])' \
        "$secantus_version" 2>/dev/null
}
if ! installed; then
    echo "mongo-server: installing SecantusDB $secantus_version into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "SecantusDB==$secantus_version" >&2
fi
if ! installed; then
    echo "mongo-server: SecantusDB $secantus_version is missing after installing it" >&2
    exit 1
fi

port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
storage="$(mktemp -d "${TMPDIR:-/tmp}/berth-secantus.XXXXXX")"
log="${BERTH_TEST_MONGODB_LOG:-$storage.log}"

# The subshell removes the storage directory once the server is gone, however it ends.
(
    "$venv/bin/python" "$root/scripts/secantusd.py" --host 127.0.0.1 --port "$port" --storage-path "$storage" \
        --log-level WARNING >"$log" 2>&1 &
    server=$!
    trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$storage"' TERM INT
    wait "$server" || true
    rm -rf "$storage"
) </dev/null >/dev/null 2>&1 &
pid=$!

# Wait (bounded) until the server answers a MongoDB `hello` over the wire.
deadline=$((SECONDS + 30))
until "$venv/bin/python" - "$port" <<'PY' >/dev/null 2>&1
import socket, struct, sys
port = int(sys.argv[1])
# OP_MSG with {hello: 1, $db: "admin"}
body = b"\x10hello\x00\x01\x00\x00\x00\x02$db\x00\x06\x00\x00\x00admin\x00\x00"
doc = struct.pack("<i", len(body) + 4) + body
msg = struct.pack("<i", 0) + b"\x00" + doc
header = struct.pack("<iiii", 16 + len(msg), 1, 0, 2013)
with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
    s.sendall(header + msg)
    reply = s.recv(16)
    sys.exit(0 if len(reply) == 16 else 1)
PY
do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "mongo-server: the server exited early; log: $log" >&2
        cat "$log" >&2 || true
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "mongo-server: no answer on 127.0.0.1:$port after 30 s; log: $log" >&2
        kill "$pid" 2>/dev/null || true
        exit 1
    fi
    sleep 0.2
done

echo "mongo-server: SecantusDB on 127.0.0.1:$port (pid $pid, log $log)" >&2
echo "export BERTH_TEST_MONGODB_URI=mongodb://127.0.0.1:$port/"
echo "export BERTH_TEST_MONGODB_PID=$pid"
echo "export BERTH_TEST_SECANTUSD=$root/scripts/secantusd.py"
