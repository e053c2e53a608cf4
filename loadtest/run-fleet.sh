#!/usr/bin/env bash
# The cross-node relay measurement: a fleet of two gateway nodes on one
# machine, sharing a DynamoDB-compatible registry (moto's server, from the
# project's .venv), one standalone Bedrock simulator and one dev data dir
# (so one signing key). Streams start on node A; each is read there, and
# attached to both on A and on B; the report gives how far behind the
# original each copy's events arrive (p50/p99), and the difference: what
# the relay between nodes adds over a reader on the same node.
#
#   loadtest/run-fleet.sh                      # both runs below
#   loadtest/run-fleet.sh unloaded             # one stream at a time
#   OUT=/tmp/r SKIP_BUILD=1 loadtest/run-fleet.sh loaded
#
# Runs:
#   unloaded  50 streams one at a time, 32 tokens at 50 tokens/s
#   loaded    300 streams arriving at 30/s (about 30 open at once, 90
#             readers), 32 tokens at 50 tokens/s
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
out=${OUT:-$root/loadtest/results}
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(unloaded loaded)

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --bins -p spillway -p spillway-loadtest
fi
bin=${CARGO_TARGET_DIR:-$root/target}/release
[ -x .venv/bin/moto_server ] || scripts/python-env

work=$(mktemp -d)
# shellcheck source=loadtest/lib.sh
. "$root/loadtest/lib.sh"
trap lib_cleanup EXIT
raise_open_files

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

export NO_COLOR=1

moto_port=$(free_port)
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
moto_pid=$!
for _ in $(seq 300); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null; then break; fi
  kill -0 "$moto_pid" 2>/dev/null || { cat "$work/moto.log" >&2; exit 1; }
  sleep 0.1
done
echo "moto:      http://127.0.0.1:$moto_port"

RUST_LOG=warn "$bin/spillway" sim --listen 127.0.0.1:0 >"$work/sim.out" 2>"$work/sim.log" &
pids+=($!)
sim_addr=$(wait_for "$work/sim.out" 's#^spillway sim listening on http://\([0-9.]*:[0-9]*\).*#\1#p' "${pids[-1]}")
echo "simulator: http://$sim_addr"

# start_node NAME: starts a gateway node of the fleet (in this shell, so
# that cleanup knows its pid); node_addr NAME then waits for its address.
start_node() {
  local name=$1
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
    RUST_LOG=warn,spillway::server=info NO_COLOR=1 \
    SPILLWAY_DATA_DIR="$work/data" \
    SPILLWAY_UPSTREAM=bedrock \
    SPILLWAY_REGISTRY=dynamodb \
    SPILLWAY_DYNAMODB_TABLE=spillway-loadtest \
    SPILLWAY_DYNAMODB_CREATE_TABLE=true \
    SPILLWAY_NODE_ID="$name" \
    SPILLWAY_CLUSTER_SECRET=loadtest-cluster-secret \
    SPILLWAY_INTERNAL_LISTEN=127.0.0.1:0 \
    AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$moto_port" \
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME="http://$sim_addr" \
    AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_EC2_METADATA_DISABLED=true \
    "$bin/spillway" serve --listen 127.0.0.1:0 >"$work/$name.log" 2>&1 &
  pids+=($!)
}
node_addr() {
  wait_for "$work/$1.log" 's#.*spillway listening on http://\([0-9.]*:[0-9]*\).*#\1#p' "${pids[-1]}"
}

# One after the other: the first creates the registry table.
start_node node-a
node_a=$(node_addr node-a)
echo "node A:    http://$node_a"
start_node node-b
node_b=$(node_addr node-b)
echo "node B:    http://$node_b"

SPILLWAY_LOADTEST_TOKEN=$("$bin/spillway" token --sub loadtest --ttl 7200 --data-dir "$work/data")
export SPILLWAY_LOADTEST_TOKEN

mkdir -p "$out"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpus: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo 2>/dev/null || true
  echo "kernel: $(uname -sr)"
  echo "fleet: two nodes, moto DynamoDB registry, one simulator, all on loopback"
} >"$out/machine-fleet.txt"

relay() {
  local name=$1; shift
  echo
  echo "== $name"
  "$bin/spillway-loadtest" --target "http://$node_a" --relay-via "http://$node_b" \
    --plot "$out/plots" --json "$out/$name.json" --markdown "$out/$name.md" "$@"
}

for r in "${runs[@]}"; do
  case $r in
    unloaded) relay 3-relay-unloaded --streams 50 --tokens 32 --rate 50 --concurrency 1 --timeout 30 ;;
    loaded) relay 3-relay-loaded --streams 300 --tokens 32 --rate 50 --arrival 30 --timeout 60 ;;
    *) echo "unknown run $r (known: unloaded loaded)" >&2; exit 2 ;;
  esac
done
echo
echo "reports: $out"
