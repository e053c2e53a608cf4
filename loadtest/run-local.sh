#!/usr/bin/env bash
# Builds Spillway and the load generator in release mode, starts a standalone
# Bedrock simulator and a gateway in front of it (both on loopback, ephemeral
# ports, a throwaway data dir), and runs the load-test scenarios against them.
# The baseline streams go straight to the same simulator, so the difference
# is what the gateway adds. Reports and SVG plots land in loadtest/results/.
#
#   loadtest/run-local.sh                  # scenarios 1 and 2 over SSE
#   loadtest/run-local.sh 1                # only scenario 1
#   TRANSPORTS="sse ws graphql" loadtest/run-local.sh 1   # each transport in turn
#   IDLE="1000 10000" loadtest/run-local.sh 4             # idle WebSockets
#   RAMP=100,200,500,1000,2000 loadtest/run-local.sh 3    # ramp, up to 2,000 streams
#   HANDSHAKES=5000 loadtest/run-local.sh 5               # handshakes over ws and graphql
#   SUBSCRIBERS="1000 5000" TRANSPORTS="sse ws" loadtest/run-local.sh 6   # fan-out
#   H2_CONNECTIONS="1 4" loadtest/run-local.sh 7          # HTTP/2 vs HTTP/1.1
#   OUT=/tmp/r SKIP_BUILD=1 loadtest/run-local.sh 2       # reuse target/release
#   TOOL=1 loadtest/run-local.sh 1 2                      # tool-call streams
#   TOOL=offer loadtest/run-local.sh 1 2                  # text, the tool offered
#   TRANSPORTS="sse bedrock" loadtest/run-local.sh 1      # SSE, then the Bedrock runtime API
#   CONCURRENT=200 TRANSPORTS=bedrock loadtest/run-local.sh 2   # scenario 2 at 200 streams
#   RAMP=10000 RAMP_TOKENS=20 RAMP_RATE=2 loadtest/run-local.sh 3  # 10,000 streams at 2 tokens/s
#   UPSTREAM=h1 loadtest/run-local.sh 3    # the gateway calls the simulator over HTTP/1.1
#
# UPSTREAM=h2 (the default): the gateway calls the simulator over TLS, HTTP/2
# by ALPN (`spillway sim --tls-listen`, its certificate trusted through
# SPILLWAY_UPSTREAM_CA_FILE), so its streams share a connection as they do
# with Bedrock; UPSTREAM=h1: cleartext HTTP/1.1, a connection per stream.
# The baseline always calls the simulator's cleartext HTTP/1.1 port.
#
# Scenarios:
#   1  unloaded added latency: 50 streams, one at a time (baseline and
#      gateway alternate), 32 tokens at 200 tokens/s
#   2  1,000 concurrent streams (CONCURRENT), all at once, 64 tokens at 50 tokens/s
#   2s 1,000 concurrent streams in steady state: 3,000 streams of 640
#      tokens at 50 tokens/s (12.8 s each) arriving at 80 per second, so
#      each new stream's first token is measured while ~1,000 others run
#   3  ramp: 40 tokens at 20 tokens/s, all at once, at each concurrency of
#      RAMP (default 100,200,500,1000,2000,5000,10000; RAMP_TOKENS and
#      RAMP_RATE change the 40 and 20) to the first step
#      that fails (a failed stream, a lost event, or a p99 gap more than
#      2 x 50 ms over the baseline's)
#   4  idle WebSockets: open N connections (IDLE, default "1000 10000") to
#      /v1/ws (IDLE_TRANSPORTS="ws graphql" adds /graphql), hold them,
#      report the gateway's RSS per connection
#   5  handshakes: HANDSHAKES (default 5000) WebSockets opened to their
#      greeting and closed, 64 at once, over ws and graphql (TRANSPORTS
#      without sse, default "ws graphql")
#   6  fan-out: one stream of 40 tokens at 20 tokens/s (first token after
#      FANOUT_TTFT_MS, default 4000) and N subscribers to it (SUBSCRIBERS,
#      default "1000 5000") over each of TRANSPORTS
#   8  retained memory: RETAINED (default 500) sessions of 1,000 tokens
#      at full speed, 50 at a time, on a fresh gateway; once all are over
#      (and retained), the gateway's RSS growth per retained event, and
#      the text per event (read back from one session), in
#      8-retained.txt
#   9  stream starts: STARTS (default 2,000) one-token streams (start,
#      one event, end), STARTS_AT_ONCE (default 16) at a time, on a fresh
#      gateway, after the same streams straight to the simulator; the
#      report's "ms per stream" is the gateway's CPU for a whole one-token
#      stream, and the simulator's line what a bare server spends on one
#   7  HTTP/2 vs HTTP/1.1: 200 concurrent SSE streams, all at once, 64
#      tokens at 50 tokens/s, against one gateway: over HTTP/1.1 (a
#      connection per stream), then over cleartext HTTP/2 with prior
#      knowledge on each of H2_CONNECTIONS connections (default "1")
#
# TOOL=1: in scenarios 1, 2, 2s and 3 every stream (gateway and baseline)
# asks for one tool call whose input streams in as many deltas as the
# scenario has tokens, instead of text (spillway-loadtest --tool-call, SSE
# only); reports are named <scenario>-tool-<transport>. TOOL=offer: text
# streams whose requests carry that tool uncalled (--offer-tool, the
# control for the tool's request size); <scenario>-offer-<transport>.
#
# Scenarios 2s, 3, 5 and 6 run against a gateway with the per-user and
# per-address limits raised (SPILLWAY_MAX_STREAMS_PER_USER,
# SPILLWAY_MAX_CONNECTIONS_PER_IP, SPILLWAY_RATE_LIMIT_PER_SEC=0: no
# request rate limit), each on a fresh gateway.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
out=${OUT:-$root/loadtest/results}
transports=${TRANSPORTS:-${TRANSPORT:-sse}}
idle_counts=${IDLE:-1000 10000}
idle_transports=${IDLE_TRANSPORTS:-ws}
ramp_steps=${RAMP:-100,200,500,1000,2000,5000,10000}
handshakes=${HANDSHAKES:-5000}
handshake_transports=${TRANSPORTS:-${TRANSPORT:-ws graphql}}
subscribers=${SUBSCRIBERS:-1000 5000}
fanout_ttft_ms=${FANOUT_TTFT_MS:-4000}
h2_connections=${H2_CONNECTIONS:-1}
concurrent=${CONCURRENT:-1000}
ramp_tokens=${RAMP_TOKENS:-40}
ramp_rate=${RAMP_RATE:-20}
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(1 2)

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --bins -p spillway -p spillway-loadtest
fi
bin=${CARGO_TARGET_DIR:-$root/target}/release
work=$(mktemp -d)
# shellcheck source=loadtest/lib.sh
. "$root/loadtest/lib.sh"
trap lib_cleanup EXIT
raise_open_files

export RUST_LOG=${RUST_LOG:-warn,spillway::server=info}
export NO_COLOR=1

start_sim
# Scenario 4 starts a gateway per run, since freed memory stays in the
# process; scenarios 2s, 3, 5 and 6 one with the limits raised. Scenario 4
# holds up to 10,000 connections of one user: start_gateway (lib.sh) lifts
# the per-user cap.
start_gateway
mint_token

mkdir -p "$out"
machine_txt "$out/machine.txt"

# loadtest NAME TRANSPORT FLAGS…
tool_flags=()
tool_suffix=
case ${TOOL:-0} in
  0) ;;
  offer) tool_flags=(--offer-tool); tool_suffix=-offer ;;
  *) tool_flags=(--tool-call); tool_suffix=-tool ;;
esac
loadtest() {
  local name=$1$tool_suffix transport=$2; shift 2
  echo
  echo "== $name ($transport)"
  "$bin/spillway-loadtest" --target "http://$gw_addr" --transport "$transport" \
    --baseline "http://$sim_addr" --gateway-pid "$gateway_pid" --sim-pid "$sim_pid" --plot "$out/plots" \
    --json "$out/$name-$transport.json" --markdown "$out/$name-$transport.md" \
    "${tool_flags[@]}" "$@"
}

idle() {
  local n=$1 t=$2
  start_gateway
  echo
  echo "== 4-idle-$n ($t)"
  "$bin/spillway-loadtest" --target "http://$gw_addr" --transport "$t" \
    --idle-connections "$n" --hold 3 --gateway-pid "$gateway_pid" --plot "$out/plots" \
    --json "$out/4-idle-$n-$t.json" --markdown "$out/4-idle-$n-$t.md"
}

# The limits a single load generator on one machine runs into at thousands
# of streams and connections of one user, lifted for scenarios 3, 5 and 6.
raised=(
  SPILLWAY_MAX_STREAMS_PER_USER=1000000
  SPILLWAY_MAX_CONNECTIONS_PER_IP=1000000
  SPILLWAY_RATE_LIMIT_PER_SEC=0
)

# bare NAME TRANSPORT FLAGS…: a mode without a baseline (5, 6).
bare() {
  local name=$1 transport=$2; shift 2
  echo
  echo "== $name ($transport)"
  "$bin/spillway-loadtest" --target "http://$gw_addr" --transport "$transport" \
    --gateway-pid "$gateway_pid" --plot "$out/plots" \
    --json "$out/$name-$transport.json" --markdown "$out/$name-$transport.md" "$@"
}

rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$gateway_pid/status"; }

# retained N: N sessions of 1,000 tokens, then RSS growth per retained event.
retained() {
  local n=$1 tokens=1000 before after id text
  echo
  echo "== 8-retained-$n"
  before=$(rss_kb)
  bare "8-retained-$n" sse --streams "$n" --tokens "$tokens" --rate 0 --concurrency 50 --timeout 120
  after=$(rss_kb)
  # The text of one such session, to tell the log's overhead from its text.
  id=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $SPILLWAY_LOADTEST_TOKEN" \
    -H 'content-type: application/json' \
    -d "{\"prompt\":\"[[sim tokens=$tokens rate=0]] text\"}" "http://$gw_addr/v1/stream" |
    sed -n 's/^x-session-id: *\([^[:space:]]*\).*/\1/Ip')
  text=$(curl -s -H "Authorization: Bearer $SPILLWAY_LOADTEST_TOKEN" "http://$gw_addr/v1/sessions/$id" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["text"].encode()))')
  {
    echo "sessions: $n x $tokens tokens"
    echo "gateway RSS: ${before} kB -> ${after} kB"
    echo "per retained event: $(( (after - before) * 1024 / (n * tokens) )) bytes"
    echo "text per event: $(( text / tokens )) bytes"
  } | tee "$out/8-retained-$n.txt"
}

for s in "${scenarios[@]}"; do
  case $s in
    1) for t in $transports; do
         loadtest 1-unloaded "$t" --streams 50 --tokens 32 --rate 200 --concurrency 1 --timeout 30
       done ;;
    2) for t in $transports; do
         loadtest "2-concurrent-$concurrent" "$t" --streams "$concurrent" --tokens 64 --rate 50 --arrival 0 --timeout 120
       done ;;
    2s) for t in $transports; do
         start_gateway "${raised[@]}"
         loadtest 2s-steady-1000 "$t" --streams 3000 --tokens 640 --rate 50 --arrival 80 --timeout 120
       done ;;
    3) for t in $transports; do
         start_gateway "${raised[@]}"
         loadtest 3-ramp "$t" --ramp "$ramp_steps" --tokens "$ramp_tokens" --rate "$ramp_rate" --arrival 0 --timeout 120
       done ;;
    4) for t in $idle_transports; do for n in $idle_counts; do idle "$n" "$t"; done; done ;;
    5) for t in $handshake_transports; do
         [ "$t" = sse ] && continue
         start_gateway "${raised[@]}"
         bare "5-handshakes-$handshakes" "$t" --handshakes "$handshakes" --concurrency 64 --timeout 30
       done ;;
    6) for t in $transports; do
         for n in $subscribers; do
           start_gateway "${raised[@]}"
           bare "6-fanout-$n" "$t" --subscribers "$n" --tokens 40 --rate 20 \
             --sim-ttft-ms "$fanout_ttft_ms" --concurrency 64 --timeout 120
         done
       done ;;
    7) loadtest 7-http1-200 sse --streams 200 --tokens 64 --rate 50 --arrival 0 --timeout 120
       for n in $h2_connections; do
         loadtest "7-http2x$n-200" sse --streams 200 --tokens 64 --rate 50 --arrival 0 --timeout 120 --http2 "$n"
       done ;;
    8) start_gateway "${raised[@]}"
       retained "${RETAINED:-500}" ;;
    9) for t in $transports; do
         start_gateway "${raised[@]}"
         loadtest "9-starts-${STARTS:-2000}" "$t" --streams "${STARTS:-2000}" --tokens 1 --rate 0 \
           --concurrency "${STARTS_AT_ONCE:-16}" --timeout 30
       done ;;
    *) echo "unknown scenario $s (known: 1 2 2s 3 4 5 6 7 8 9)" >&2; exit 2 ;;
  esac
done
echo
echo "reports: $out"
