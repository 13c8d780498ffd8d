#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# registry_infra.sh - self-test of the registry test bed (registry.py: local
# docker-registry, fault-injecting proxy, Bearer token server) that the
# registry-mount tests stand on.  Here: `registry.py serve` as a process
# (auth + token-checking proxy, driven with curl through the control
# endpoint, stopped by SIGTERM with everything it started); then
# registry_infra.py checks each part in detail with curl and skopeo.
# Skips (77) without root, python3, docker-registry, skopeo or curl.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

[ "$(id -u)" -eq 0 ] || lfs_skip "needs root (as in CI: skopeo's caches, registry storage)"
for t in python3 docker-registry skopeo curl; do
	command -v "$t" >/dev/null 2>&1 || lfs_skip "$t is not installed (scripts/install-deps)"
done

work=$(lfs_tmpdir)
serve_pid=
py_pid=
stop_serve() {	# the python children (each stops what it started on SIGTERM)
	for _p in $serve_pid $py_pid; do
		kill -TERM "$_p" 2>/dev/null || :
		wait "$_p" 2>/dev/null || :
	done
	serve_pid=
	py_pid=
}
trap 'stop_serve; lfs_cleanup' EXIT
trap 'stop_serve; lfs_cleanup; exit 130' INT
trap 'stop_serve; lfs_cleanup; exit 143' TERM
trap 'stop_serve; lfs_cleanup; exit 129' HUP
# every temporary file of the python side goes under $work (removed by the trap)
TMPDIR=$work
export TMPDIR

# --- registry.py serve: a separate process, controlled over HTTP
python3 "$here/registry.py" serve --auth --check-tokens --info "$work/info.json" \
	>"$work/serve.log" 2>&1 &
serve_pid=$!
i=0
while [ ! -s "$work/info.json" ]; do
	kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log" >&2; lfs_fail "registry.py serve exited"; }
	i=$((i + 1))
	[ "$i" -le 300 ] || lfs_fail "registry.py serve not ready within 30s"
	sleep 0.1
done
# proxy=, registry=, token=, workdir=, ... from info.json
eval "$(python3 -c 'import json, shlex, sys
for k, v in json.load(open(sys.argv[1])).items():
    print("%s=%s" % (k, shlex.quote(str(v))))' "$work/info.json")"
reg=$registry
realm=$token
regdir=$workdir

code=$(curl -s -o /dev/null -D "$work/h" -w '%{http_code}' "http://$proxy/v2/")
[ "$code" = 401 ] || lfs_fail "serve: GET /v2/ through the proxy without a token: $code, not 401"
grep -qi "^www-authenticate: Bearer realm=\"$realm\"" "$work/h" ||
	lfs_fail "serve: no Bearer challenge naming $realm: $(cat "$work/h")"
echo "ok   serve: the token-checking proxy challenges with the token server's realm"

tok=$(curl -sf "$realm?service=layerfs-test-registry" |
	sed -n 's/.*"token": *"\([0-9a-f]*\)".*/\1/p')
[ -n "$tok" ] || lfs_fail "serve: no token from $realm"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "http://$proxy/v2/")
[ "$code" = 200 ] || lfs_fail "serve: GET /v2/ with the token: $code, not 200"
echo "ok   serve: with the token server's token GET /v2/ answers 200"

curl -sf -X POST -H 'Content-Type: application/json' \
	-d '{"kind": "status", "status": 503, "path": "^/v2/$", "retry_after": 3}' \
	"http://$proxy/__fault" >/dev/null || lfs_fail "serve: POST /__fault failed"
code=$(curl -s -o /dev/null -D "$work/h" -w '%{http_code}' -H "Authorization: Bearer $tok" \
	"http://$proxy/v2/")
[ "$code" = 503 ] && grep -qi '^retry-after: 3' "$work/h" ||
	lfs_fail "serve: armed 503 fault not applied ($code)"
curl -sf "http://$proxy/__stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["kinds"]["base"]["requests"] == 3, s
assert [e["status"] for e in s["log"]] == [401, 200, 503], s["log"]
' || lfs_fail "serve: /__stats does not show the 3 requests (401, 200, 503)"
echo "ok   serve: fault armed through POST /__fault, counted in GET /__stats"

stop_serve
for hp in "$reg" "$proxy"; do
	rc=0
	curl -s -o /dev/null --connect-timeout 2 "http://$hp/v2/" || rc=$?
	[ "$rc" = 7 ] || lfs_fail "after SIGTERM $hp still answers (curl exit $rc)"
done
[ ! -e "$regdir" ] || lfs_fail "after SIGTERM the registry's directory $regdir is still there"
echo "ok   serve: SIGTERM stops the registry and the proxy, removes the registry's directory"

# --- the detailed checks, in one process (in the background, so that a
# signal to this script reaches the trap, which stops it, at once)
python3 "$here/registry_infra.py" &
py_pid=$!
rc=0
wait "$py_pid" || rc=$?
py_pid=
exit "$rc"
