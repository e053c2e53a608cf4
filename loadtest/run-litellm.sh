#!/usr/bin/env bash
# Spillway against LiteLLM, side by side in one run, on the OpenAI route with
# the same client: a standalone Bedrock simulator, a Spillway gateway in
# bedrock mode in front of it, and a LiteLLM proxy (one worker) whose only
# model is `bedrock/<Claude id>` with `aws_bedrock_runtime_endpoint` set to
# the same simulator. `spillway-loadtest --transport openai` streams
# `POST /v1/chat/completions` through each, with a same-run baseline
# straight to the simulator (aws-sdk-bedrockruntime), in three runs each:
#
#   unloaded    50 streams, one at a time (baseline and gateway
#               alternate), 32 tokens at 200 tokens/s
#   50 at once  50 streams opened together, 64 tokens at 50 tokens/s
#   200 at once 200 streams opened together, 64 tokens at 50 tokens/s
#
# Spillway and LiteLLM alternate run by run (unloaded: Spillway, LiteLLM;
# then 50; then 200), so drift on the machine hits both alike. Each
# gateway's CPU is read from /proc/PID over its runs (--gateway-pid).
#
#   loadtest/run-litellm.sh                  # build, venv, all three runs
#   SKIP_BUILD=1 loadtest/run-litellm.sh     # reuse target/release
#   RUNS="unloaded 200" loadtest/run-litellm.sh
#   OUT=/tmp/r loadtest/run-litellm.sh       # reports elsewhere
#
# The venv (loadtest/.litellm-venv, not committed) is made on first use
# from loadtest/litellm-requirements.txt (LITELLM_VENV to use another).
# LiteLLM must not reach the internet (this machine has none: a hang would
# be the sign): it runs with LITELLM_LOCAL_MODEL_COST_MAP=True, telemetry
# off, no callbacks, no database, dummy AWS credentials and IMDS disabled,
# and the script lists any socket of its process not on loopback at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
out=${OUT:-$root/loadtest/results/litellm}
runs=${RUNS:-unloaded 50 200}
venv=${LITELLM_VENV:-$root/loadtest/.litellm-venv}
# The Claude model both gateways ask the simulator for; LiteLLM serves it
# under the name its config gives it.
claude=${MODEL:-global.anthropic.claude-haiku-4-5-20251001-v1:0}
litellm_name=claude-haiku-4-5
litellm_key=sk-spillway-loadtest

if [ -z "${SKIP_BUILD:-}" ]; then
  nice -n 5 cargo build --release --bins -p spillway -p spillway-loadtest
fi
bin=${CARGO_TARGET_DIR:-$root/target}/release
work=$(mktemp -d)
# shellcheck source=loadtest/lib.sh
. "$root/loadtest/lib.sh"
trap lib_cleanup EXIT
raise_open_files

if [ ! -x "$venv/bin/litellm" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$root/loadtest/litellm-requirements.txt"
fi
litellm_version=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))')

export RUST_LOG=${RUST_LOG:-warn,spillway::server=info}
export NO_COLOR=1
# The simulator logs each stream's API at debug (one line per stream), so
# the script can say which Bedrock API each gateway calls.
SIM_LOG=${SIM_LOG:-warn,spillway_sim::routes::stream=debug}

start_sim
start_gateway
mint_token

# The LiteLLM proxy: one model, the simulator as its Bedrock runtime
# endpoint, a master key (checked on every request, as Spillway checks
# its JWT), nothing else.
cat >"$work/litellm.yaml" <<EOF
model_list:
  - model_name: $litellm_name
    litellm_params:
      model: bedrock/$claude
      aws_bedrock_runtime_endpoint: http://$sim_addr
      aws_access_key_id: x
      aws_secret_access_key: x
      aws_region_name: us-east-1
litellm_settings:
  telemetry: false
  callbacks: []
  success_callback: []
  failure_callback: []
  num_retries: 0
  request_timeout: 120
general_settings:
  master_key: $litellm_key
  disable_spend_logs: true
  disable_reset_budget: true
EOF
litellm_port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u DATABASE_URL \
  LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False LITELLM_LOG=ERROR \
  LITELLM_MODE=PRODUCTION DISABLE_ADMIN_UI=True NO_DOCS=True \
  AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 \
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
  "$venv/bin/litellm" --config "$work/litellm.yaml" --host 127.0.0.1 --port "$litellm_port" \
  --num_workers 1 >"$work/litellm.log" 2>&1 &
litellm_pid=$!
pids+=("$litellm_pid")
# Its first start compiles its modules (over a minute on a busy machine).
for _ in $(seq 3000); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$litellm_port/health/liveliness" 2>/dev/null; then break; fi
  kill -0 "$litellm_pid" 2>/dev/null || { echo "litellm exited:" >&2; cat "$work/litellm.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$litellm_port/health/liveliness" \
  || { echo "litellm did not come up in 300 s:" >&2; cat "$work/litellm.log" >&2; exit 1; }
echo "litellm:   http://127.0.0.1:$litellm_port (pid $litellm_pid, $litellm_version)"
children=$(ps -o pid= --ppid "$litellm_pid" | tr -s ' \n' ' ' || true)
[ -z "${children// /}" ] || echo "litellm child processes (not sampled): $children"

mkdir -p "$out"
machine_txt "$out/machine.txt"
{
  echo "spillway: $("$bin/spillway" --version 2>/dev/null || echo unknown) ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "litellm: $litellm_version (python $("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])'))"
} >>"$out/machine.txt"

# cpu_ticks PID: user + system CPU ticks of PID so far.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# The CPU each gateway spends idle over 5 s, before any stream: what the
# per-event figures carry from the baseline phases.
gw0=$(cpu_ticks "$gateway_pid"); ll0=$(cpu_ticks "$litellm_pid")
sleep 5
echo "idle CPU over 5 s (ticks of 10 ms): spillway $(( $(cpu_ticks "$gateway_pid") - gw0 )), litellm $(( $(cpu_ticks "$litellm_pid") - ll0 ))" \
  | tee -a "$out/machine.txt"

# run NAME GATEWAY FLAGS…: one run of the openai client against GATEWAY
# (spillway or litellm), with the same-run baseline.
run() {
  local name=$1 gw=$2; shift 2
  local target pid model token
  if [ "$gw" = spillway ]; then
    target=http://$gw_addr pid=$gateway_pid model=$claude token=$SPILLWAY_LOADTEST_TOKEN
  else
    target=http://127.0.0.1:$litellm_port pid=$litellm_pid model=$litellm_name token=$litellm_key
  fi
  echo
  echo "== $name ($gw)"
  local before
  before=$(grep -c 'simulator stream starts' "$work/sim.log" || true)
  SPILLWAY_LOADTEST_TOKEN=$token "$bin/spillway-loadtest" --target "$target" --transport openai \
    --model "$model" --baseline-model "$claude" --baseline "http://$sim_addr" \
    --gateway-pid "$pid" --quiet --plot "$out/plots" \
    --json "$out/$name-$gw.json" --markdown "$out/$name-$gw.md" "$@"
  # The Bedrock APIs the simulator saw in this run (baseline included).
  tail -n +"$((before + 1))" "$work/sim.log" | sed -n 's/.*api=\([A-Za-z]*\).*/\1/p' | sort | uniq -c \
    | awk -v n="$name-$gw" '{ printf "%s: %s %s streams\n", n, $1, $2 }' | tee -a "$out/apis.txt"
}

# Warm-up, not reported: LiteLLM imports much of itself on its first
# request (over 10 s), and both gateways open their first upstream
# connections; 20 streams each, 5 at a time.
for gw in spillway litellm; do
  run warmup "$gw" --streams 20 --tokens 8 --rate 0 --concurrency 5 --timeout 120 >/dev/null
  echo "warm-up ($gw): $(tr -d ' \n' <"$out/warmup-$gw.json" | grep -o '"completed":[0-9]*,"failed":[0-9]*')"
done
rm -f "$out"/warmup-* "$out"/plots/warmup-*

: >"$out/apis.txt"
for r in $runs; do
  case $r in
    unloaded) flags=(--streams 50 --tokens 32 --rate 200 --concurrency 1 --timeout 30) ;;
    50|200) flags=(--streams "$r" --tokens 64 --rate 50 --arrival 0 --timeout 120) ;;
    *) echo "unknown run $r (known: unloaded 50 200)" >&2; exit 2 ;;
  esac
  [ "$r" = unloaded ] && name=unloaded || name=at-once-$r
  run "$name" spillway "${flags[@]}"
  run "$name" litellm "${flags[@]}"
done

# One table of the runs: added TTFT (gateway minus its own baseline),
# the baseline's TTFT, streams completed, CPU per delivered event.
"$venv/bin/python" - "$out" $runs <<'PY' | tee "$out/summary.md"
import json, re, sys
out, runs = sys.argv[1], sys.argv[2:]
print("| run | gateway | added TTFT p50 / p99 ms | TTFT p50 gateway / baseline ms | completed / failed | CPU per event |")
print("|---|---|---|---|---|---|")
for r in runs:
    name = "unloaded" if r == "unloaded" else f"at-once-{r}"
    for gw in ("spillway", "litellm"):
        try:
            rep = json.load(open(f"{out}/{name}-{gw}.json"))
            md = open(f"{out}/{name}-{gw}.md").read()
        except OSError:
            continue
        add, t = rep.get("ttftAddedMs") or {}, rep.get("ttftMs") or {}
        base = (t.get("p50") - add["p50"]) if add and t else None
        cpu = re.search(r"\(([0-9.]+) ms per 1,000 events\)", md)
        fmt = lambda v: "n/a" if v is None else f"{v:+.1f}"
        print(f"| {name} | {gw} | {fmt(add.get('p50'))} / {fmt(add.get('p99'))} | "
              f"{t.get('p50', float('nan')):.1f} / {base if base is None else round(base, 1)} | "
              f"{rep['completed']} / {rep['failed']} | {cpu.group(1) + ' us' if cpu else 'n/a'} |")
PY

# Anything LiteLLM opened off loopback (it should be nothing).
outside=$(ss -tnpa 2>/dev/null | grep "pid=$litellm_pid," | awk '{ print $5 }' \
  | grep -v -e '^127\.' -e '^\[::1\]' -e '^\[::ffff:127\.' -e '^0\.0\.0\.0:' -e '^\*:' || true)
echo
echo "litellm sockets off loopback: ${outside:-none}" | tee -a "$out/machine.txt"
grep -i -m5 -e error -e traceback "$work/litellm.log" && echo "(from the litellm log)"
echo
echo "reports: $out"
