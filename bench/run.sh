#!/usr/bin/env bash
# bench/run.sh — data-plane benchmark of the LocalZure Service Bus broker.
#
# usage: bench/run.sh [--quick] [BUILD_DIR [BROKER_BINARY]]
#   BUILD_DIR      CMake build directory holding bench/lzload and bench/bare_mhd (default ./build)
#   BROKER_BINARY  broker executable (default BUILD_DIR/broker/localzure-broker)
#   --quick        smoke run: short phases, 100k messages in the memory phase
#
# Phases (all on 127.0.0.1, every wait bounded):
#   1. bare_mhd (a do-nothing libmicrohttpd responder) + lzload send, 64 connections: the upper bound
#   2. broker (durability none): lzload send 64 conns, batch 100/request 8 conns, peeklock 64 conns
#   3. fresh broker: fill N 1 KiB messages with batch sends, read VmRSS/VmHWM from /proc
#   4. summary table with the targets and PASS/FAIL
# Exit status: 0 when every phase ran without errors and every target passed (or was skipped),
# 1 otherwise, 2 on a usage or setup error.
#
# Environment overrides: LZLOAD_THREADS (default 1), BARE_THREADS (MHD pool size, default 2),
# BENCH_SECS (seconds per throughput phase).
set -euo pipefail
export LC_ALL=C

QUICK=0
POSITIONAL=()
for arg in "$@"; do
	case "$arg" in
	--quick) QUICK=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "run.sh: unknown option $arg" >&2
		exit 2
		;;
	*) POSITIONAL+=("$arg") ;;
	esac
done
if ((${#POSITIONAL[@]} > 2)); then
	echo "run.sh: too many arguments" >&2
	exit 2
fi
BUILD_DIR=${POSITIONAL[0]:-./build}
BROKER=${POSITIONAL[1]:-$BUILD_DIR/broker/localzure-broker}

# ---- parameters ---------------------------------------------------------------------------
LZLOAD_THREADS=${LZLOAD_THREADS:-1}
BARE_THREADS=${BARE_THREADS:-2}
if ((QUICK)); then
	SECS=${BENCH_SECS:-2}
	MEM_MESSAGES=100000
	MEM_FILL_SECS=60
	BATCH_MAX_REQUESTS=2000     # caps the batch phase at 200k messages
	SEND_MAX_REQUESTS=400000
else
	SECS=${BENCH_SECS:-5}
	MEM_MESSAGES=1000000
	MEM_FILL_SECS=300
	BATCH_MAX_REQUESTS=10000    # caps the batch phase at 1M messages (bounded broker memory)
	SEND_MAX_REQUESTS=1000000
fi
BODY_SIZE=1024
BATCH=100
HEALTH_WAIT_TENTHS=100          # 10 s for the broker to answer GET /health
STOP_WAIT_TENTHS=100            # 10 s between SIGTERM and SIGKILL

# Targets.
TARGET_SEND_PCT=70
TARGET_BATCH_MSGS=400000
TARGET_PEEKLOCK=20000
TARGET_RSS_MB=1400              # 1.4 GB, MB = 10^6 bytes

# The queue: MaxDeliveryCount 100 so repeated peek-locks never dead-letter, and a 5 GB size
# quota because the default 1 GB would refuse the 1M x 1 KiB memory fill.
QUEUE_XML='<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><MaxSizeInMegabytes>5120</MaxSizeInMegabytes><MaxDeliveryCount>100</MaxDeliveryCount></QueueDescription></content></entry>'

LZLOAD=$BUILD_DIR/bench/lzload
BARE=$BUILD_DIR/bench/bare_mhd
for exe in "$LZLOAD" "$BARE" "$BROKER"; do
	if [[ ! -x $exe ]]; then
		echo "run.sh: $exe is not an executable (build it first: cmake --build $BUILD_DIR)" >&2
		exit 2
	fi
done
BROKER_ABS=$(realpath "$BROKER")

# ---- process bookkeeping: only PIDs started here are ever signalled ------------------------------
STARTED_PIDS=()
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lzbench.XXXXXX")

# True while `pid` exists and is not a zombie (a zombie still answers kill -0).
is_running() {
	local pid=$1 stat
	[[ -r /proc/$pid/stat ]] || return 1
	stat=$(<"/proc/$pid/stat") || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# SIGTERM, wait up to STOP_WAIT_TENTHS/10 s, then SIGKILL; reap the child.
stop_pid() {
	local pid=$1 i
	if is_running "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < STOP_WAIT_TENTHS; i++)); do
			is_running "$pid" || break
			sleep 0.1
		done
		if is_running "$pid"; then
			echo "run.sh: PID $pid ignored SIGTERM for $((STOP_WAIT_TENTHS / 10)) s, sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	local kept=() p
	for p in "${STARTED_PIDS[@]}"; do
		[[ $p == "$pid" ]] || kept+=("$p")
	done
	STARTED_PIDS=("${kept[@]}")
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	local pid
	for pid in "${STARTED_PIDS[@]}"; do
		stop_pid "$pid"
	done
	rm -rf -- "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tiny HTTP client over bash's /dev/tcp (no curl needed) -------------------------------------

# http_status METHOD PORT PATH [CONTENT_TYPE BODY] -> prints the status code ("000" on failure)
http_status() {
	local method=$1 port=$2 path=$3 ctype=${4:-} body=${5:-} fd line
	# The group limits 2>/dev/null to the open; `exec {fd}` alone would keep it for the shell.
	if ! { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
		echo 000
		return 0
	fi
	{
		printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n' "$method" "$path" "$port"
		[[ -n $ctype ]] && printf 'Content-Type: %s\r\n' "$ctype"
		printf 'Content-Length: %d\r\n\r\n%s' "${#body}" "$body"
	} 1>&"$fd" 2>/dev/null || true
	line=
	read -r -t 5 -u "$fd" line || true
	exec {fd}>&-
	line=${line%$'\r'}
	if [[ $line =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]]; then
		echo "${BASH_REMATCH[1]}"
	else
		echo 000
	fi
}

# ---- load runs ---------------------------------------------------------------------------------

# field LINE KEY -> value of KEY=... in an lzload result line, without a "/s" suffix
field() {
	local v
	v=$(sed -n "s/^\(.* \)\{0,1\}$2=\([^ ]*\).*/\2/p" <<<"$1")
	echo "${v%/s}"
}

LOAD_FAILURES=0
# run_load LABEL lzload-args... ; sets LOAD_LINE to the result line ("" when lzload gave none)
run_load() {
	local label=$1 rc=0
	shift
	echo "-- $label"
	LOAD_LINE=$("$LZLOAD" --threads "$LZLOAD_THREADS" "$@") || rc=$?
	echo "   $LOAD_LINE"
	if ((rc != 0)); then
		echo "   lzload exited with $rc" >&2
		LOAD_FAILURES=$((LOAD_FAILURES + 1))
	fi
	return 0
}

# ---- broker lifecycle -----------------------------------------------------------------------------

BROKER_PID=
BROKER_PORT=
# start_broker NAME: fresh temp dir and port, waits for GET /health == 200, creates queue "bench".
start_broker() {
	local dir=$WORK_DIR/$1 i status=000
	mkdir -p "$dir"
	BROKER_PORT=
	# Port 0: the broker binds any free port and logs it (port=N), so nothing can race us to it.
	(cd "$dir" && exec env LOCALZURE_HTTP_HOST=127.0.0.1 LOCALZURE_HTTP_PORT=0 \
		LOCALZURE_DURABILITY=none "$BROKER_ABS") >"$dir/broker.log" 2>&1 &
	BROKER_PID=$!
	STARTED_PIDS+=("$BROKER_PID")
	for ((i = 0; i < HEALTH_WAIT_TENTHS; i++)); do
		if ! is_running "$BROKER_PID"; then
			echo "run.sh: the broker exited during start-up; last log lines:" >&2
			tail -n 20 "$dir/broker.log" >&2 || true
			exit 1
		fi
		if [[ -z $BROKER_PORT ]]; then
			BROKER_PORT=$(sed -n 's/.*msg="listening".* port=\([0-9]*\).*/\1/p' "$dir/broker.log" | head -n 1)
			[[ -z $BROKER_PORT ]] && { sleep 0.1; continue; }
		fi
		status=$(http_status GET "$BROKER_PORT" /health)
		[[ $status == 200 ]] && break
		sleep 0.1
	done
	if [[ $status != 200 ]]; then
		echo "run.sh: GET /health did not answer 200 within $((HEALTH_WAIT_TENTHS / 10)) s; last log lines:" >&2
		tail -n 20 "$dir/broker.log" >&2 || true
		exit 1
	fi
	status=$(http_status PUT "$BROKER_PORT" /bench application/atom+xml "$QUEUE_XML")
	if [[ $status != 200 && $status != 201 ]]; then
		echo "run.sh: PUT /bench answered $status; last log lines:" >&2
		tail -n 20 "$dir/broker.log" >&2 || true
		exit 1
	fi
	echo "-- broker PID $BROKER_PID on 127.0.0.1:$BROKER_PORT, queue bench created"
}

# proc_kb PID FIELD -> the kB value of FIELD (VmRSS, VmHWM) in /proc/PID/status
proc_kb() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

kb_to_mb() {
	awk -v kb="$1" 'BEGIN { printf "%.0f", kb * 1024 / 1e6 }'
}

# ---- phase 1: bare libmicrohttpd --------------------------------------------------------------------
RUN_KIND=full
((QUICK)) && RUN_KIND=quick
echo "== LocalZure Service Bus data-plane benchmark ($RUN_KIND, ${SECS}s per phase, lzload threads $LZLOAD_THREADS)"
: >"$WORK_DIR/bare.out"   # exists before the child opens it, so the poll below can read it
"$BARE" 0 "$BARE_THREADS" >"$WORK_DIR/bare.out" 2>"$WORK_DIR/bare.err" &
BARE_PID=$!
STARTED_PIDS+=("$BARE_PID")
BARE_PORT=
for ((i = 0; i < 50; i++)); do
	BARE_PORT=$(sed -n 's/^port=//p' "$WORK_DIR/bare.out")
	[[ -n $BARE_PORT ]] && break
	is_running "$BARE_PID" || break
	sleep 0.1
done
if [[ -z $BARE_PORT ]]; then
	echo "run.sh: bare_mhd did not report its port" >&2
	cat "$WORK_DIR/bare.err" >&2 || true
	exit 1
fi
echo "-- bare_mhd PID $BARE_PID on 127.0.0.1:$BARE_PORT ($BARE_THREADS MHD threads)"
run_load "bare MHD, send, 64 connections" --url "http://127.0.0.1:$BARE_PORT" --mode send \
	--connections 64 --duration "$SECS" --body-size "$BODY_SIZE"
BARE_LINE=$LOAD_LINE
stop_pid "$BARE_PID"

# ---- phase 2: broker throughput -----------------------------------------------------------------------
start_broker throughput
URL="http://127.0.0.1:$BROKER_PORT"
run_load "broker, send, 64 connections" --url "$URL" --entity bench --mode send --connections 64 \
	--duration "$SECS" --body-size "$BODY_SIZE" --max-requests "$SEND_MAX_REQUESTS"
SEND_LINE=$LOAD_LINE
run_load "broker, batch of $BATCH, 8 connections" --url "$URL" --entity bench --mode batch --batch "$BATCH" \
	--connections 8 --duration "$SECS" --body-size "$BODY_SIZE" --max-requests "$BATCH_MAX_REQUESTS"
BATCH_LINE=$LOAD_LINE
run_load "broker, peek-lock + complete, 64 connections" --url "$URL" --entity bench --mode peeklock \
	--connections 64 --duration "$SECS"
PEEK_LINE=$LOAD_LINE
stop_pid "$BROKER_PID"

# ---- phase 3: memory for N messages --------------------------------------------------------------------
start_broker memory
BASE_RSS_KB=$(proc_kb "$BROKER_PID" VmRSS)
run_load "broker, fill $MEM_MESSAGES x $BODY_SIZE B messages (batch $BATCH, 8 connections)" \
	--url "http://127.0.0.1:$BROKER_PORT" --entity bench --mode batch --batch "$BATCH" --connections 8 \
	--duration "$MEM_FILL_SECS" --body-size "$BODY_SIZE" --max-requests $((MEM_MESSAGES / BATCH))
FILL_LINE=$LOAD_LINE
sleep 0.5   # let in-flight work settle before sampling
RSS_KB=0
HWM_KB=0
if is_running "$BROKER_PID"; then
	RSS_KB=$(proc_kb "$BROKER_PID" VmRSS)
	HWM_KB=$(proc_kb "$BROKER_PID" VmHWM)
else
	echo "run.sh: the broker died during the memory fill" >&2
	FILL_LINE=
fi
stop_pid "$BROKER_PID"

# ---- phase 4: summary ---------------------------------------------------------------------------------
num() { [[ -n $1 ]] && echo "$1" || echo 0; }
BARE_RATE=$(num "$(field "$BARE_LINE" rate)")
SEND_RATE=$(num "$(field "$SEND_LINE" rate)")
BATCH_MSGS=$(num "$(field "$BATCH_LINE" msgs_rate)")
PEEK_RATE=$(num "$(field "$PEEK_LINE" rate)")
PEEK_EMPTY=$(num "$(field "$PEEK_LINE" empty)")
FILLED=$(num "$(field "$FILL_LINE" msgs)")
SEND_PCT=$(awk -v s="$SEND_RATE" -v b="$BARE_RATE" 'BEGIN { printf "%.1f", (b > 0 ? 100 * s / b : 0) }')
RSS_MB=$(kb_to_mb "$RSS_KB")
HWM_MB=$(kb_to_mb "$HWM_KB")
BASE_MB=$(kb_to_mb "$BASE_RSS_KB")
PER_MSG=$(awk -v r="$RSS_KB" -v b="$BASE_RSS_KB" -v n="$FILLED" 'BEGIN { printf "%.0f", (n > 0 ? (r - b) * 1024 / n : 0) }')

ALL_OK=1
# verdict LINE MET(0/1): sets VERDICT; a phase with errors (or no result) fails whatever its rate.
# Runs in the main shell (not in $(...)) so that ALL_OK sticks.
verdict() {
	if [[ -z $1 || $(num "$(field "$1" errors)") != 0 ]]; then
		ALL_OK=0
		VERDICT="FAIL (errors)"
	elif (($2)); then
		VERDICT=PASS
	else
		ALL_OK=0
		VERDICT=FAIL
	fi
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }' && echo 1 || echo 0; }

verdict "$SEND_LINE" "$(ge "$SEND_PCT" "$TARGET_SEND_PCT")"
V_SEND=$VERDICT
verdict "$BATCH_LINE" "$(ge "$BATCH_MSGS" "$TARGET_BATCH_MSGS")"
V_BATCH=$VERDICT
verdict "$PEEK_LINE" "$(ge "$PEEK_RATE" "$TARGET_PEEKLOCK")"
V_PEEK=$VERDICT
if [[ $FILLED != "$MEM_MESSAGES" ]]; then
	ALL_OK=0
	V_RSS="FAIL (filled $FILLED of $MEM_MESSAGES)"
elif ((QUICK)); then
	verdict "$FILL_LINE" 1
	[[ $VERDICT == PASS ]] && V_RSS="SKIP (quick run, $MEM_MESSAGES msgs)" || V_RSS=$VERDICT
else
	verdict "$FILL_LINE" "$(ge "$TARGET_RSS_MB" "$RSS_MB")"
	V_RSS=$VERDICT
fi
[[ -n $BARE_LINE && $(num "$(field "$BARE_LINE" errors)") == 0 ]] || ALL_OK=0
((LOAD_FAILURES == 0)) || ALL_OK=0

echo
echo "== summary (lzload: 64 connections unless noted, $BODY_SIZE B bodies, ${SECS}s phases)"
printf '%-34s %-30s %-20s %s\n' figure value target result
printf '%-34s %-30s %-20s %s\n' "bare MHD requests/s" "$BARE_RATE" "-" "-"
printf '%-34s %-30s %-20s %s\n' "broker sends/s (vs bare)" "$SEND_RATE ($SEND_PCT %)" ">= $TARGET_SEND_PCT % of bare" "$V_SEND"
printf '%-34s %-30s %-20s %s\n' "broker batch msgs/s (8 conns)" "$BATCH_MSGS" ">= $TARGET_BATCH_MSGS" "$V_BATCH"
printf '%-34s %-30s %-20s %s\n' "peek-lock+complete pairs/s" "$PEEK_RATE" ">= $TARGET_PEEKLOCK" "$V_PEEK"
printf '%-34s %-30s %-20s %s\n' "broker RSS, $FILLED msgs" "$RSS_MB MB (peak $HWM_MB MB)" "<= $TARGET_RSS_MB MB" "$V_RSS"
echo "   (RSS before fill $BASE_MB MB, about $PER_MSG B per message; MB = 10^6 bytes)"
if [[ $PEEK_EMPTY != 0 ]]; then
	echo "   note: peek-lock saw $PEEK_EMPTY empty (204) answers: the queue ran dry, the rate is understated"
fi
((ALL_OK)) && exit 0
exit 1
