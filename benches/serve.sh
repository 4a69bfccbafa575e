# Sourced by the bench scripts: a scratch directory `$repo` removed on exit,
# and `serve HTTP_PORT GRPC_PORT ARGS...`, which starts the release server in
# the background (pid in `$server`, stopped on exit) and waits until ready.
repo=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$repo"; }
trap cleanup EXIT

serve() {
  local http=$1 grpc=$2
  shift 2
  target/release/sluice serve --host 127.0.0.1 --http-port "$http" --grpc-port "$grpc" --log-level warn "$@" &
  server=$!
  for _ in $(seq 300); do curl -sf "127.0.0.1:$http/v2/health/ready" >/dev/null && return; sleep 0.1; done
  echo "sluice never became ready on :$http" >&2
  return 1
}
