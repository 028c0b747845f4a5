#!/usr/bin/env bash
# bench/durability.sh — what durability costs: the broker with and without persistd.
#
# usage: bench/durability.sh [--quick] [BUILD_DIR]
#   BUILD_DIR  CMake build directory (default ./build); use a RelWithDebInfo or Release build:
#                cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build-rel -j2
#              It must hold bench/lzload, bench/fold_bench, broker/localzure-broker and
#              persistd/localzure-persistd.
#   --quick    smoke run: 2 s phases, 2 rounds, 100k messages in the recovery fill and the fold
#              state (the targets for 1M are then only indicative)
#
# Phases (all on 127.0.0.1, every wait bounded, every process stopped by its PID):
#   1. sends/s, lzload --mode send, 64 connections, 1 KiB bodies, for four configurations, each
#      in a fresh temp data dir with fresh processes: durability none (no persistd); sync + persistd
#      in-memory; sync + sqlite; sync + json. The four run in turn, ROUNDS times (interleaved);
#      the median of the rounds is reported, with sqlite/none and sqlite/memory against targets.
#   2. recovery: sync + sqlite, fill N 1 KiB messages with batch sends (100 per request,
#      8 connections), SIGKILL the broker, start it again and time exec → first 200 on GET /health
#      (the state transfer from persistd included); RSS of both processes. Then SIGKILL the broker
#      again, stop persistd with SIGTERM (it folds the WAL into sqlite), start persistd, and time a
#      second broker restart from the folded state. Then, with both stopped, the localzure command
#      exports that state (storage export), purges the store and imports the file again
#      (storage import-data), each under /usr/bin/time -v: wall time and the CLI's peak RSS.
#   3. fold cost: bench/fold_bench (persistd's fold into sqlite, 10k MSG_ENQUEUE records of 1 KiB,
#      over an empty store and over a store of N messages).
#   4. summary table with targets and PASS/FAIL, and the commands that were run.
# Exit status: 0 when every phase ran without errors and every target passed, 1 otherwise,
# 2 on a usage or setup error.
#
# Environment overrides: ROUNDS (phase 1 rounds; 3, or 2 with --quick), BENCH_SECS (seconds per
# phase 1 run; 5, or 2 with --quick), LZLOAD_THREADS (default 1), FILL_MESSAGES (phase 2 and the
# fold state; 1000000, or 100000 with --quick).
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
		echo "durability.sh: unknown option $arg" >&2
		exit 2
		;;
	*) POSITIONAL+=("$arg") ;;
	esac
done
if ((${#POSITIONAL[@]} > 1)); then
	echo "durability.sh: too many arguments" >&2
	exit 2
fi
BUILD_DIR=${POSITIONAL[0]:-./build}

# ---- parameters ---------------------------------------------------------------------------
LZLOAD_THREADS=${LZLOAD_THREADS:-1}
if ((QUICK)); then
	SECS=${BENCH_SECS:-2}
	ROUNDS=${ROUNDS:-2}
	FILL_MESSAGES=${FILL_MESSAGES:-100000}
	FILL_SECS=120
else
	SECS=${BENCH_SECS:-5}
	ROUNDS=${ROUNDS:-3}
	FILL_MESSAGES=${FILL_MESSAGES:-1000000}
	FILL_SECS=600
fi
for v in SECS ROUNDS FILL_MESSAGES LZLOAD_THREADS; do
	if [[ ! ${!v} =~ ^[1-9][0-9]*$ ]]; then
		echo "durability.sh: $v must be a positive integer, not '${!v}'" >&2
		exit 2
	fi
done
if ((ROUNDS > 20 || SECS > 600 || FILL_MESSAGES > 10000000 || FILL_MESSAGES % 100 != 0)); then
	echo "durability.sh: ROUNDS <= 20, BENCH_SECS <= 600, FILL_MESSAGES <= 10000000 and a multiple of 100" >&2
	exit 2
fi
CONNS=64
BODY_SIZE=1024
BATCH=100
FILL_CONNS=8
SEND_MAX_REQUESTS=2000000       # caps one send run (bounded broker memory even on a fast machine)
FOLD_BATCH=10000
FOLD_REPS=5
START_WAIT_TENTHS=150           # 15 s for a fresh persistd / broker to come up
RECOVERY_WAIT_TENTHS=1200       # 120 s for a restart over the full state (the target is 5 s)
STOP_WAIT_TENTHS=100            # 10 s between SIGTERM and SIGKILL
PERSISTD_FOLD_WAIT_TENTHS=3000  # 300 s for persistd's folding shutdown in the recovery phase

# Targets.
TARGET_SQLITE_VS_NONE_PCT=80    # sync + sqlite sends/s >= 80 % of durability none
TARGET_SQLITE_VS_MEMORY=0.9     # sync + sqlite within 10 % of sync + in-memory persistd
TARGET_RESTART_S=5              # restart to serving
TARGET_FOLD_MS=50               # fold of 10k records into an empty store
TARGET_FOLD_RATIO=2             # fold over the big state / over the empty one
TARGET_EXPORT_IMPORT_S=20       # localzure storage export / import-data of the filled state, each
TARGET_CLI_RSS_MB=256           # "flat memory": the CLI's peak RSS stays far below the state size

QUEUE_XML='<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><MaxSizeInMegabytes>5120</MaxSizeInMegabytes><MaxDeliveryCount>100</MaxDeliveryCount></QueueDescription></content></entry>'

LZLOAD=$BUILD_DIR/bench/lzload
CLI=$BUILD_DIR/persistd/cli/localzure
FOLD_BENCH=$BUILD_DIR/bench/fold_bench
BROKER=$BUILD_DIR/broker/localzure-broker
PERSISTD=$BUILD_DIR/persistd/localzure-persistd
for exe in "$LZLOAD" "$FOLD_BENCH" "$BROKER" "$PERSISTD" "$CLI" /usr/bin/time; do
	if [[ ! -x $exe ]]; then
		echo "durability.sh: $exe is not an executable (build it first: cmake --build $BUILD_DIR -j2)" >&2
		exit 2
	fi
done
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
SANITIZED=$(sed -n 's/^LZ_SANITIZE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
if [[ $BUILD_TYPE != RelWithDebInfo && $BUILD_TYPE != Release ]] || [[ $SANITIZED == ON ]]; then
	echo "durability.sh: warning: $BUILD_DIR is a '${BUILD_TYPE:-?}' build${SANITIZED:+ (LZ_SANITIZE=$SANITIZED)};" \
		"figures are meaningful only for RelWithDebInfo/Release without sanitizers" >&2
fi
BROKER_ABS=$(realpath "$BROKER")
PERSISTD_ABS=$(realpath "$PERSISTD")
CLI_ABS=$(realpath "$CLI")

# Inherited LOCALZURE_* variables would change (or, for persistd, reject) the configuration:
# every process started here gets them removed, and only the ones set below.
CLEAN_ENV=()
while IFS= read -r v; do
	CLEAN_ENV+=(-u "$v")
done < <(compgen -e | grep '^LOCALZURE_' || true)

# ---- process bookkeeping: only PIDs started here are ever signalled ----------------------
STARTED_PIDS=()
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lzdur.XXXXXX")
# persistd's ipc://<data_dir>/persistd.ipc must fit a UNIX socket address (107 bytes).
if ((${#WORK_DIR} + 40 > 107)); then
	echo "durability.sh: temp dir $WORK_DIR is too long for the ipc socket path; set TMPDIR=/tmp" >&2
	rm -rf -- "$WORK_DIR"
	exit 2
fi

# Start time (clock ticks since boot, field 22 of /proc/PID/stat) of each PID started here: with
# it, a PID that ended and was reused by another process is never mistaken for ours.
declare -A START_TICKS=()
proc_start_ticks() {
	local stat f
	stat=$(<"/proc/$1/stat") 2>/dev/null || return 1
	stat=${stat##*) }
	read -ra f <<<"$stat"
	echo "${f[19]}"
}

# track_pid PID [keep]: remembers a child just started with `&`. A daemon is disowned, so that bash
# neither prints "Killed" when we SIGKILL it nor keeps it in its job table (bash still reaps it);
# with `keep` it stays a job, for `wait` (run_child).
track_pid() {
	STARTED_PIDS+=("$1")
	START_TICKS[$1]=$(proc_start_ticks "$1" || echo gone)
	[[ ${2:-} == keep ]] || disown "$1" 2>/dev/null || true
}

# True while `pid` is ours, exists and is not a zombie (a zombie still answers kill -0).
is_running() {
	local pid=$1 stat
	[[ -r /proc/$pid/stat ]] || return 1
	stat=$(<"/proc/$pid/stat") 2>/dev/null || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]] || return 1
	[[ $(proc_start_ticks "$pid" 2>/dev/null) == "${START_TICKS[$pid]:-}" ]]
}

forget_pid() {
	local kept=() p
	for p in "${STARTED_PIDS[@]}"; do
		[[ $p == "$1" ]] || kept+=("$p")
	done
	STARTED_PIDS=("${kept[@]}")
	unset "START_TICKS[$1]"
}

# stop_pid PID [SIGNAL [WAIT_TENTHS]]: SIGNAL (TERM), wait for the end, then SIGKILL.
# Sets STOP_SECS to the time from the signal to the process's end.
STOP_SECS=0
stop_pid() {
	local pid=$1 sig=${2:-TERM} tenths=${3:-$STOP_WAIT_TENTHS} i t0
	t0=$(now_us)
	if is_running "$pid"; then
		kill -"$sig" "$pid" 2>/dev/null || true
		for ((i = 0; i < tenths * 10; i++)); do
			is_running "$pid" || break
			sleep 0.01
		done
		if is_running "$pid"; then
			echo "durability.sh: PID $pid did not end within $((tenths / 10)) s of SIG$sig, sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 500; i++)); do
				is_running "$pid" || break
				sleep 0.01
			done
		fi
	fi
	STOP_SECS=$(secs_since "$t0")
	forget_pid "$pid"
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	local i
	# Everything here is thrown away: SIGTERM with a short grace, then SIGKILL; newest first, so
	# that lzload goes before the broker and the broker before its persistd.
	for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${STARTED_PIDS[i]}" TERM 30
	done
	rm -rf -- "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_us() {
	local t=$EPOCHREALTIME
	echo "${t/./}"
}
secs_since() {
	local now
	now=$(now_us)
	awk -v a="$1" -v b="$now" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'
}

# ---- tiny HTTP client over bash's /dev/tcp (no curl needed) -------------------------------

# http_req METHOD PORT PATH [CONTENT_TYPE BODY]: sets HTTP_STATUS ("000" on failure) and
# HTTP_BODY (the whole response, headers included).
http_req() {
	local method=$1 port=$2 path=$3 ctype=${4:-} body=${5:-} fd line
	HTTP_STATUS=000
	HTTP_BODY=
	# The group limits 2>/dev/null to the open; `exec {fd}` alone would keep it for the shell.
	if ! { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
		return 0
	fi
	{
		printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n' "$method" "$path" "$port"
		[[ -n $ctype ]] && printf 'Content-Type: %s\r\n' "$ctype"
		printf 'Content-Length: %d\r\n\r\n%s' "${#body}" "$body"
	} 1>&"$fd" 2>/dev/null || true
	line=
	read -r -t 5 -u "$fd" line || true
	if [[ $method != HEAD && $path != /health ]]; then
		read -r -d '' -t 5 -u "$fd" HTTP_BODY || true
	fi
	exec {fd}>&-
	line=${line%$'\r'}
	if [[ $line =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]]; then
		HTTP_STATUS=${BASH_REMATCH[1]}
	fi
	return 0
}

# ---- commands, for the report -----------------------------------------------------------------
CMD_LINES=()
CMD_KEYS=()
# note_cmd KEY TEXT: remembers the first command of each kind.
note_cmd() {
	local k
	for k in "${CMD_KEYS[@]}"; do
		[[ $k == "$1" ]] && return 0
	done
	CMD_KEYS+=("$1")
	CMD_LINES+=("$2")
}

# ---- processes ----------------------------------------------------------------------------------

PD_PID=
# start_persistd DIR STORAGE [WAIT_TENTHS]: starts persistd on DIR and waits for msg="ready".
# Sets PD_PID and PD_START_SECS (exec → ready).
start_persistd() {
	local dir=$1 storage=$2 tenths=${3:-$START_WAIT_TENTHS} i t0 off=0
	mkdir -p "$dir"
	[[ -f $dir/persistd.log ]] && off=$(stat -c %s "$dir/persistd.log")
	note_cmd "persistd-$storage" "env LOCALZURE_DATA_DIR=<dir> LOCALZURE_STORAGE_TYPE=$storage $PERSISTD"
	t0=$(now_us)
	(cd "$dir" && exec env "${CLEAN_ENV[@]}" LOCALZURE_DATA_DIR="$dir" LOCALZURE_STORAGE_TYPE="$storage" \
		"$PERSISTD_ABS") >>"$dir/persistd.log" 2>&1 &
	PD_PID=$!
	track_pid "$PD_PID"
	for ((i = 0; i < tenths * 10; i++)); do
		if tail -c +"$((off + 1))" "$dir/persistd.log" | grep -q 'msg="ready"'; then
			PD_START_SECS=$(secs_since "$t0")
			return 0
		fi
		if ! is_running "$PD_PID"; then
			echo "durability.sh: persistd ($storage) exited during start-up; last log lines:" >&2
			tail -n 20 "$dir/persistd.log" >&2 || true
			exit 1
		fi
		sleep 0.01
	done
	echo "durability.sh: persistd ($storage) not ready within $((tenths / 10)) s; last log lines:" >&2
	tail -n 20 "$dir/persistd.log" >&2 || true
	exit 1
}

BROKER_PID=
BROKER_PORT=
# start_broker DIR DURABILITY [WAIT_TENTHS]: starts the broker (port 0), waits for GET /health == 200.
# Sets BROKER_PID, BROKER_PORT and BROKER_START_SECS (exec → first 200 on /health). A failure
# exits the script unless ALLOW_START_FAIL=1, in which case BROKER_START_SECS is empty.
ALLOW_START_FAIL=0
start_broker() {
	local dir=$1 durability=$2 tenths=${3:-$START_WAIT_TENTHS} i t0 off=0 log
	mkdir -p "$dir"
	log=$dir/broker.log
	[[ -f $log ]] && off=$(stat -c %s "$log")
	BROKER_PORT=
	BROKER_START_SECS=
	BROKER_LOG_OFF=$off
	note_cmd "broker-$durability" "env LOCALZURE_HTTP_HOST=127.0.0.1 LOCALZURE_HTTP_PORT=0 LOCALZURE_DURABILITY=$durability LOCALZURE_DATA_DIR=<dir> $BROKER"
	t0=$(now_us)
	BROKER_EXEC_US=$t0
	# Port 0: the broker binds any free port and logs it (port=N), so nothing can race us to it.
	(cd "$dir" && exec env "${CLEAN_ENV[@]}" LOCALZURE_HTTP_HOST=127.0.0.1 LOCALZURE_HTTP_PORT=0 \
		LOCALZURE_DURABILITY="$durability" LOCALZURE_DATA_DIR="$dir" "$BROKER_ABS") >>"$log" 2>&1 &
	BROKER_PID=$!
	track_pid "$BROKER_PID"
	for ((i = 0; i < tenths * 10; i++)); do
		if [[ -z $BROKER_PORT ]]; then
			BROKER_PORT=$(tail -c +"$((off + 1))" "$log" | sed -n 's/.*msg="listening".* port=\([0-9]*\).*/\1/p' | head -n 1)
		fi
		if [[ -n $BROKER_PORT ]]; then
			http_req GET "$BROKER_PORT" /health
			if [[ $HTTP_STATUS == 200 ]]; then
				BROKER_START_SECS=$(secs_since "$t0")
				return 0
			fi
		fi
		if ! is_running "$BROKER_PID"; then
			echo "durability.sh: the broker ($durability) exited during start-up; last log lines:" >&2
			tail -n 20 "$log" >&2 || true
			forget_pid "$BROKER_PID"
			BROKER_PID=
			((ALLOW_START_FAIL)) && return 0
			exit 1
		fi
		sleep 0.01
	done
	echo "durability.sh: GET /health did not answer 200 within $((tenths / 10)) s; last log lines:" >&2
	tail -n 20 "$log" >&2 || true
	((ALLOW_START_FAIL)) && return 0
	exit 1
}

create_queue() {
	http_req PUT "$BROKER_PORT" /bench application/atom+xml "$QUEUE_XML"
	if [[ $HTTP_STATUS != 200 && $HTTP_STATUS != 201 ]]; then
		echo "durability.sh: PUT /bench answered $HTTP_STATUS" >&2
		exit 1
	fi
}

# log_secs LOG OFF MSG T0_US -> seconds from T0_US (epoch µs) to the ts= of the first line with
# msg="MSG" after byte OFF of LOG ("?" when there is none)
log_secs() {
	local ts ms
	ts=$(tail -c +"$(($2 + 1))" "$1" | grep -m 1 "msg=\"$3\"" | sed -n 's/^ts=\([^ ]*\) .*/\1/p' || true)
	ms=$(date -u -d "$ts" +%s%3N 2>/dev/null || true)
	if [[ -z $ts || -z $ms ]]; then
		echo "?"
	else
		awk -v a="$4" -v b="$ms" 'BEGIN { printf "%.2f", (b * 1000 - a) / 1e6 }'
	fi
}

# broker_phases DIR -> where the last broker start spent its time (from its log's timestamps)
broker_phases() {
	local log=$1/broker.log
	echo "exec → connected to persistd $(log_secs "$log" "$BROKER_LOG_OFF" "connected to persistd" "$BROKER_EXEC_US") s," \
		"→ state loaded $(log_secs "$log" "$BROKER_LOG_OFF" "state loaded from persistd" "$BROKER_EXEC_US") s," \
		"→ listening $(log_secs "$log" "$BROKER_LOG_OFF" listening "$BROKER_EXEC_US") s, → 200 on /health ${BROKER_START_SECS:-?} s"
}

# queue_active_count -> ActiveMessageCount of queue bench ("?" when unreadable)
queue_active_count() {
	local v
	http_req GET "$BROKER_PORT" /bench
	v=$(grep -o 'ActiveMessageCount>[0-9]*<' <<<"$HTTP_BODY" | head -n 1 | tr -cd 0-9 || true)
	echo "${v:-?}"
}

# proc_kb PID FIELD -> the kB value of FIELD (VmRSS, VmHWM) in /proc/PID/status
proc_kb() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}
kb_to_mb() {
	awk -v kb="${1:-0}" 'BEGIN { printf "%.0f", kb * 1024 / 1e6 }'
}

# field LINE KEY -> value of KEY=... in a key=value line, without a "/s" suffix
field() {
	local v
	v=$(sed -n "s/^\(.* \)\{0,1\}$2=\([^ ]*\).*/\2/p" <<<"$1")
	echo "${v%/s}"
}
num() { [[ -n $1 ]] && echo "$1" || echo 0; }

# run_child OUT_FILE COMMAND...: runs COMMAND in the background with stdout to OUT_FILE and waits
# for it. `wait` (unlike a foreground command) returns at once when INT/TERM arrive, so the EXIT
# trap can stop the child by its PID. Sets CHILD_RC.
run_child() {
	local out=$1 pid
	shift
	"$@" >"$out" &
	pid=$!
	track_pid "$pid" keep
	CHILD_RC=0
	wait "$pid" || CHILD_RC=$?
	forget_pid "$pid"
}

LOAD_FAILURES=0
# run_load LABEL lzload-args... ; sets LOAD_LINE to the result line ("" when lzload gave none)
run_load() {
	local label=$1 rc
	shift
	run_child "$WORK_DIR/lzload.out" "$LZLOAD" --threads "$LZLOAD_THREADS" "$@"
	rc=$CHILD_RC
	LOAD_LINE=$(grep '^mode=' "$WORK_DIR/lzload.out" | tail -n 1 || true)
	echo "   $label: $LOAD_LINE"
	if ((rc != 0)); then
		echo "   lzload exited with $rc" >&2
		LOAD_FAILURES=$((LOAD_FAILURES + 1))
	fi
	return 0
}

# folds_in LOG -> how many WAL folds persistd logged
folds_in() {
	grep -c 'msg="folded the wal' "$1" 2>/dev/null || true
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

RUN_KIND=full
((QUICK)) && RUN_KIND=quick
echo "== LocalZure durability benchmark ($RUN_KIND: ${SECS}s send runs x $ROUNDS rounds, $FILL_MESSAGES-message recovery; build $BUILD_DIR ${BUILD_TYPE:-?})"

# ---- phase 1: sends/s per durability configuration ------------------------------------------------
CONFIGS=(none memory sqlite json)
declare -A LABEL=([none]="durability none" [memory]="sync + in-memory" [sqlite]="sync + sqlite" [json]="sync + json")
declare -A STORAGE=([memory]=in-memory [sqlite]=sqlite [json]=json)
declare -A RATES=() ERRS=() P99S=() FOLDS=()
echo "-- phase 1: lzload --mode send, $CONNS connections, $BODY_SIZE B bodies, ${SECS}s per run"
for ((round = 1; round <= ROUNDS; round++)); do
	for cfg in "${CONFIGS[@]}"; do
		dir=$WORK_DIR/r$round-$cfg
		mkdir -p "$dir"
		PD_PID=
		if [[ $cfg == none ]]; then
			start_broker "$dir" none
		else
			start_persistd "$dir" "${STORAGE[$cfg]}"
			start_broker "$dir" sync
		fi
		create_queue
		note_cmd send "$LZLOAD --threads $LZLOAD_THREADS --url http://127.0.0.1:<port> --entity bench --mode send --connections $CONNS --duration $SECS --body-size $BODY_SIZE --max-requests $SEND_MAX_REQUESTS"
		run_load "round $round, ${LABEL[$cfg]}" --url "http://127.0.0.1:$BROKER_PORT" --entity bench --mode send \
			--connections "$CONNS" --duration "$SECS" --body-size "$BODY_SIZE" --max-requests "$SEND_MAX_REQUESTS"
		RATES[$cfg]+="$(num "$(field "$LOAD_LINE" rate)") "
		ERRS[$cfg]=$(($(num "${ERRS[$cfg]:-0}") + $(num "$(field "$LOAD_LINE" errors)") + $([[ -n $LOAD_LINE ]] && echo 0 || echo 1)))
		P99S[$cfg]+="$(num "$(field "$LOAD_LINE" p99_us)") "
		stop_pid "$BROKER_PID" TERM
		if [[ -n $PD_PID ]]; then
			FOLDS[$cfg]=$(($(num "${FOLDS[$cfg]:-0}") + $(num "$(folds_in "$dir/persistd.log")")))
			# The data is thrown away: SIGKILL skips the folding shutdown, which would take
			# seconds and disturb the next run.
			stop_pid "$PD_PID" KILL
		fi
		rm -rf -- "$dir"
	done
done
declare -A MED=() MED_P99=()
for cfg in "${CONFIGS[@]}"; do
	# shellcheck disable=SC2086  # word splitting of the space-separated lists is intended
	MED[$cfg]=$(median ${RATES[$cfg]})
	# shellcheck disable=SC2086
	MED_P99[$cfg]=$(median ${P99S[$cfg]})
done
echo
printf '   %-18s' config
for ((round = 1; round <= ROUNDS; round++)); do printf ' %10s' "round $round"; done
printf ' %10s %10s %7s %6s\n' median p99_us errors folds
for cfg in "${CONFIGS[@]}"; do
	printf '   %-18s' "${LABEL[$cfg]}"
	for r in ${RATES[$cfg]}; do printf ' %10s' "$r"; done
	printf ' %10s %10s %7s %6s\n' "${MED[$cfg]}" "${MED_P99[$cfg]}" "${ERRS[$cfg]}" "${FOLDS[$cfg]:--}"
done
SQLITE_VS_NONE=$(awk -v a="${MED[sqlite]}" -v b="${MED[none]}" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')
SQLITE_VS_MEM=$(awk -v a="${MED[sqlite]}" -v b="${MED[memory]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
JSON_VS_NONE=$(awk -v a="${MED[json]}" -v b="${MED[none]}" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')
MEM_VS_NONE=$(awk -v a="${MED[memory]}" -v b="${MED[none]}" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')
echo "   sync+sqlite / none = $SQLITE_VS_NONE %, sync+sqlite / sync+memory = $SQLITE_VS_MEM," \
	"sync+memory / none = $MEM_VS_NONE %, sync+json / none = $JSON_VS_NONE %"
echo

# ---- phase 2: recovery --------------------------------------------------------------------------
echo "-- phase 2: recovery of $FILL_MESSAGES x $BODY_SIZE B messages (sync + sqlite)"
RDIR=$WORK_DIR/recovery
start_persistd "$RDIR" sqlite
start_broker "$RDIR" sync
create_queue
note_cmd fill "$LZLOAD --threads $LZLOAD_THREADS --url http://127.0.0.1:<port> --entity bench --mode batch --batch $BATCH --connections $FILL_CONNS --duration $FILL_SECS --body-size $BODY_SIZE --max-requests $((FILL_MESSAGES / BATCH))"
run_load "fill" --url "http://127.0.0.1:$BROKER_PORT" --entity bench --mode batch --batch "$BATCH" \
	--connections "$FILL_CONNS" --duration "$FILL_SECS" --body-size "$BODY_SIZE" --max-requests $((FILL_MESSAGES / BATCH))
FILL_LINE=$LOAD_LINE
FILLED=$(num "$(field "$FILL_LINE" msgs)")
FILL_RATE=$(num "$(field "$FILL_LINE" msgs_rate)")
FILL_ERRORS=$(num "$(field "$FILL_LINE" errors)")
PRE_BROKER_RSS_KB=$(proc_kb "$BROKER_PID" VmRSS)
PRE_PD_RSS_KB=$(proc_kb "$PD_PID" VmRSS)
echo "   before the kill: broker RSS $(kb_to_mb "$PRE_BROKER_RSS_KB") MB, persistd RSS $(kb_to_mb "$PRE_PD_RSS_KB") MB," \
	"$(folds_in "$RDIR/persistd.log") WAL folds during the fill"

# 2a: SIGKILL the broker, restart it against the running persistd.
stop_pid "$BROKER_PID" KILL
PD_LOG_OFF=$(stat -c %s "$RDIR/persistd.log")
ALLOW_START_FAIL=1
start_broker "$RDIR" sync "$RECOVERY_WAIT_TENTHS"
ALLOW_START_FAIL=0
RESTART1_SECS=$BROKER_START_SECS
RESTART1_COUNT='?'
BROKER1_RSS_KB=0
BROKER1_HWM_KB=0
PD1_RSS_KB=0
PD1_HWM_KB=0
if [[ -n $RESTART1_SECS ]]; then
	RESTART1_COUNT=$(queue_active_count)
	BROKER1_RSS_KB=$(proc_kb "$BROKER_PID" VmRSS)
	BROKER1_HWM_KB=$(proc_kb "$BROKER_PID" VmHWM)
	PD1_RSS_KB=$(proc_kb "$PD_PID" VmRSS)
	PD1_HWM_KB=$(proc_kb "$PD_PID" VmHWM)
fi
if [[ -z $RESTART1_SECS ]]; then
	echo "durability.sh: persistd's last log lines:" >&2
	tail -n 10 "$RDIR/persistd.log" >&2 || true
fi
XFER1=$(tail -c +"$((PD_LOG_OFF + 1))" "$RDIR/persistd.log" | grep 'msg="broker connected"' | tail -n 1 || true)
echo "   restart 1 (after SIGKILL, persistd running): ${RESTART1_SECS:-FAILED} s to serving, queue holds $RESTART1_COUNT;" \
	"persistd: state_records=$(field "$XFER1" state_records) transfer ms=$(field "$XFER1" ms)"
echo "   restart 1 in the broker's log: $(broker_phases "$RDIR")"
echo "   after recovery: broker RSS $(kb_to_mb "$BROKER1_RSS_KB") MB (peak $(kb_to_mb "$BROKER1_HWM_KB") MB)," \
	"persistd RSS $(kb_to_mb "$PD1_RSS_KB") MB (peak $(kb_to_mb "$PD1_HWM_KB") MB)"

# 2b: SIGKILL the broker again, stop persistd cleanly (it folds), start both from the folded state.
[[ -n $BROKER_PID ]] && stop_pid "$BROKER_PID" KILL
stop_pid "$PD_PID" TERM "$PERSISTD_FOLD_WAIT_TENTHS"
PD_STOP_SECS=$STOP_SECS
SHUTDOWN_FOLD=$(grep 'msg="folded the wal' "$RDIR/persistd.log" | tail -n 1 || true)
WAL_LEFT=$(du -sb "$RDIR/wal" 2>/dev/null | cut -f1 || true)
DB_BYTES=$(stat -c %s "$RDIR/localzure.db" 2>/dev/null || echo 0)
echo "   persistd SIGTERM → exit: $PD_STOP_SECS s (last fold: why=$(field "$SHUTDOWN_FOLD" why) ms=$(field "$SHUTDOWN_FOLD" ms));" \
	"sqlite file $((DB_BYTES / 1000000)) MB, wal dir $(((${WAL_LEFT:-0} + 500000) / 1000000)) MB"
start_persistd "$RDIR" sqlite "$RECOVERY_WAIT_TENTHS"
PD2_START_SECS=$PD_START_SECS
PD_LOG_OFF=$(stat -c %s "$RDIR/persistd.log")
ALLOW_START_FAIL=1
start_broker "$RDIR" sync "$RECOVERY_WAIT_TENTHS"
ALLOW_START_FAIL=0
RESTART2_SECS=$BROKER_START_SECS
RESTART2_COUNT='?'
BROKER2_RSS_KB=0
PD2_RSS_KB=0
if [[ -n $RESTART2_SECS ]]; then
	RESTART2_COUNT=$(queue_active_count)
	BROKER2_RSS_KB=$(proc_kb "$BROKER_PID" VmRSS)
	PD2_RSS_KB=$(proc_kb "$PD_PID" VmRSS)
fi
if [[ -z $RESTART2_SECS ]]; then
	echo "durability.sh: persistd's last log lines:" >&2
	tail -n 10 "$RDIR/persistd.log" >&2 || true
fi
XFER2=$(tail -c +"$((PD_LOG_OFF + 1))" "$RDIR/persistd.log" | grep 'msg="broker connected"' | tail -n 1 || true)
echo "   restart 2 (folded sqlite state): persistd exec → ready $PD2_START_SECS s, broker ${RESTART2_SECS:-FAILED} s to serving," \
	"queue holds $RESTART2_COUNT; persistd: state_records=$(field "$XFER2" state_records) transfer ms=$(field "$XFER2" ms)"
echo "   restart 2 in the broker's log: $(broker_phases "$RDIR")"
echo "   after recovery: broker RSS $(kb_to_mb "$BROKER2_RSS_KB") MB, persistd RSS $(kb_to_mb "$PD2_RSS_KB") MB"
[[ -n $BROKER_PID ]] && stop_pid "$BROKER_PID" TERM
stop_pid "$PD_PID" TERM "$PERSISTD_FOLD_WAIT_TENTHS"

# 2c: export and import of the folded state with the localzure command, offline (persistd
# stopped: the CLI does the work in its own process, so /usr/bin/time measures it).
EXPORT_FILE=$WORK_DIR/export.jsonl
cli_timed() { # cli_timed OUT_PREFIX ARGS...: runs the CLI under /usr/bin/time -v
	local out=$1
	shift
	(cd "$RDIR" && exec env "${CLEAN_ENV[@]}" LOCALZURE_DATA_DIR="$RDIR" LOCALZURE_STORAGE_TYPE=sqlite \
		/usr/bin/time -v "$CLI_ABS" "$@") >"$out.out" 2>"$out.err"
}
time_field() { sed -n "s/^[[:space:]]*$2: //p" "$1" | head -n 1; }
elapsed_secs() { # m:ss.cc or h:mm:ss → seconds
	awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<<"$1"
}
note_cmd cli-export "env LOCALZURE_DATA_DIR=<dir> /usr/bin/time -v $CLI storage export <file>"
note_cmd cli-import "env LOCALZURE_DATA_DIR=<dir> /usr/bin/time -v $CLI storage import-data <file> --yes (after storage purge --yes --force)"
EXPORT_SECS='?' IMPORT_SECS='?' EXPORT_RSS_KB=0 IMPORT_RSS_KB=0 IMPORTED='?' EXPORT_BYTES=0
if cli_timed "$WORK_DIR/export" storage export "$EXPORT_FILE"; then
	EXPORT_SECS=$(elapsed_secs "$(time_field "$WORK_DIR/export.err" 'Elapsed (wall clock) time (h:mm:ss or m:ss)')")
	EXPORT_RSS_KB=$(time_field "$WORK_DIR/export.err" 'Maximum resident set size (kbytes)')
	EXPORT_BYTES=$(stat -c %s "$EXPORT_FILE")
	if cli_timed "$WORK_DIR/purge" storage purge --yes --force &&
		cli_timed "$WORK_DIR/import" storage import-data "$EXPORT_FILE" --yes; then
		IMPORT_SECS=$(elapsed_secs "$(time_field "$WORK_DIR/import.err" 'Elapsed (wall clock) time (h:mm:ss or m:ss)')")
		IMPORT_RSS_KB=$(time_field "$WORK_DIR/import.err" 'Maximum resident set size (kbytes)')
		cli_timed "$WORK_DIR/stats" --json storage stats &&
			IMPORTED=$(sed -n 's/^ *"Messages": \([0-9]*\),*$/\1/p' "$WORK_DIR/stats.out" | head -n 1)
	else
		echo "durability.sh: purge or import failed:" >&2
		tail -n 5 "$WORK_DIR/purge.err" "$WORK_DIR/import.err" >&2 || true
	fi
else
	echo "durability.sh: export failed:" >&2
	tail -n 5 "$WORK_DIR/export.err" >&2 || true
fi
echo "   export: $EXPORT_SECS s, peak RSS $(kb_to_mb "${EXPORT_RSS_KB:-0}") MB, file $((EXPORT_BYTES / 1000000)) MB;" \
	"import: $IMPORT_SECS s, peak RSS $(kb_to_mb "${IMPORT_RSS_KB:-0}") MB; messages after import: $IMPORTED"
rm -f -- "$EXPORT_FILE"
rm -rf -- "$RDIR"
echo

# ---- phase 3: fold cost ---------------------------------------------------------------------------
echo "-- phase 3: fold_bench (sqlite, $FOLD_BATCH records per fold, state $FILL_MESSAGES messages)"
FDIR=$WORK_DIR/fold
mkdir -p "$FDIR"
note_cmd fold "$FOLD_BENCH --state $FILL_MESSAGES --batch $FOLD_BATCH --reps $FOLD_REPS --max-ms $TARGET_FOLD_MS --max-ratio $TARGET_FOLD_RATIO --dir <dir>"
run_child "$WORK_DIR/fold.out" "$FOLD_BENCH" --state "$FILL_MESSAGES" --batch "$FOLD_BATCH" --reps "$FOLD_REPS" \
	--max-ms "$TARGET_FOLD_MS" --max-ratio "$TARGET_FOLD_RATIO" --dir "$FDIR" 2>"$WORK_DIR/fold.err"
FOLD_RC=$CHILD_RC
FOLD_LINE=$(grep '^fold_empty_ms=' "$WORK_DIR/fold.out" || true)
echo "   $FOLD_LINE"
if [[ -z $FOLD_LINE || $FOLD_RC -gt 1 ]]; then
	echo "durability.sh: fold_bench failed (exit $FOLD_RC):" >&2
	tail -n 5 "$WORK_DIR/fold.err" >&2 || true
fi
rm -rf -- "$FDIR"
echo

# ---- phase 4: summary ---------------------------------------------------------------------------
ALL_OK=1
# shellcheck disable=SC2317  # called through verdict
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
# verdict OK-EXPR-RESULT: sets VERDICT from a command's status; ERRORS (default 0) forces FAIL.
verdict() {
	local errors=$1
	shift
	if [[ $errors != 0 ]]; then
		VERDICT="FAIL (errors)"
		ALL_OK=0
	elif "$@"; then
		VERDICT=PASS
	else
		VERDICT=FAIL
		ALL_OK=0
	fi
}
P1_ERRS=$((ERRS[none] + ERRS[memory] + ERRS[sqlite] + ERRS[json]))
verdict "$((ERRS[sqlite] + ERRS[none]))" ge "$SQLITE_VS_NONE" "$TARGET_SQLITE_VS_NONE_PCT"
V_VS_NONE=$VERDICT
verdict "$((ERRS[sqlite] + ERRS[memory]))" ge "$SQLITE_VS_MEM" "$TARGET_SQLITE_VS_MEMORY"
V_VS_MEM=$VERDICT
if ((FILLED != FILL_MESSAGES || FILL_ERRORS != 0)); then
	V_FILL="FAIL (filled $FILLED of $FILL_MESSAGES, $FILL_ERRORS errors)"
	ALL_OK=0
else
	V_FILL=ok
fi
restart_verdict() {
	local secs=$1 count=$2
	if [[ -z $secs ]]; then
		VERDICT="FAIL (did not start)"
		ALL_OK=0
	elif [[ $count != "$FILLED" ]]; then
		VERDICT="FAIL (recovered $count of $FILLED)"
		ALL_OK=0
	else
		verdict 0 ge "$TARGET_RESTART_S" "$secs"
	fi
}
restart_verdict "$RESTART1_SECS" "$RESTART1_COUNT"
V_R1=$VERDICT
restart_verdict "$RESTART2_SECS" "$RESTART2_COUNT"
V_R2=$VERDICT
FOLD_EMPTY=$(field "$FOLD_LINE" fold_empty_ms)
FOLD_BIG=$(field "$FOLD_LINE" fold_big_ms)
FOLD_RATIO=$(field "$FOLD_LINE" ratio)
if [[ -z $FOLD_LINE ]]; then
	V_FOLD="FAIL (no result)"
	V_FOLDR="FAIL (no result)"
	ALL_OK=0
else
	verdict 0 ge "$TARGET_FOLD_MS" "$FOLD_EMPTY"
	V_FOLD=$VERDICT
	verdict 0 ge "$TARGET_FOLD_RATIO" "$FOLD_RATIO"
	V_FOLDR=$VERDICT
fi
if [[ $EXPORT_SECS == '?' ]]; then
	V_EXPORT="FAIL (no result)"
	ALL_OK=0
else
	verdict 0 ge "$TARGET_EXPORT_IMPORT_S" "$EXPORT_SECS"
	V_EXPORT=$VERDICT
	verdict 0 ge "$TARGET_CLI_RSS_MB" "$(kb_to_mb "${EXPORT_RSS_KB:-0}")"
	V_EXPORT_RSS=$VERDICT
fi
if [[ $IMPORT_SECS == '?' || $IMPORTED != "$FILLED" ]]; then
	V_IMPORT="FAIL (imported ${IMPORTED} of $FILLED)"
	V_IMPORT_RSS=$V_IMPORT
	ALL_OK=0
else
	verdict 0 ge "$TARGET_EXPORT_IMPORT_S" "$IMPORT_SECS"
	V_IMPORT=$VERDICT
	verdict 0 ge "$TARGET_CLI_RSS_MB" "$(kb_to_mb "${IMPORT_RSS_KB:-0}")"
	V_IMPORT_RSS=$VERDICT
fi
((LOAD_FAILURES == 0 && P1_ERRS == 0)) || ALL_OK=0
QNOTE=
((QUICK)) && QNOTE=" (quick run: $FILL_MESSAGES messages, not 1M)"

echo "== summary ($RUN_KIND; send runs: $CONNS connections, $BODY_SIZE B bodies, ${SECS}s, median of $ROUNDS rounds)$QNOTE"
row() { printf '%-46s %-34s %-16s %s\n' "$@"; }
row figure value target result
row "sends/s, durability none" "${MED[none]}" "-" "-"
row "sends/s, sync + in-memory persistd" "${MED[memory]} ($MEM_VS_NONE % of none)" "-" "-"
row "sends/s, sync + sqlite" "${MED[sqlite]}" "-" "-"
row "sends/s, sync + json" "${MED[json]} ($JSON_VS_NONE % of none)" "-" "-"
row "sync+sqlite / none" "$SQLITE_VS_NONE %" ">= $TARGET_SQLITE_VS_NONE_PCT %" "$V_VS_NONE"
row "sync+sqlite / sync+memory" "$SQLITE_VS_MEM" ">= $TARGET_SQLITE_VS_MEMORY" "$V_VS_MEM"
row "recovery fill (batch $BATCH, $FILL_CONNS conns)" "$FILLED msgs at $FILL_RATE msgs/s" "$FILL_MESSAGES msgs" "$V_FILL"
row "restart to serving after SIGKILL" "$RESTART1_SECS s ($RESTART1_COUNT msgs)" "<= $TARGET_RESTART_S s" "$V_R1"
row "  broker RSS after recovery" "$(kb_to_mb "$BROKER1_RSS_KB") MB (peak $(kb_to_mb "$BROKER1_HWM_KB") MB)" "-" "-"
row "  persistd RSS after recovery" "$(kb_to_mb "$PD1_RSS_KB") MB (peak $(kb_to_mb "$PD1_HWM_KB") MB)" "-" "-"
row "persistd SIGTERM to exit (folds the WAL)" "$PD_STOP_SECS s" "-" "-"
row "persistd start to ready (folded sqlite)" "$PD2_START_SECS s" "-" "-"
row "broker restart to serving, folded sqlite" "$RESTART2_SECS s ($RESTART2_COUNT msgs)" "<= $TARGET_RESTART_S s" "$V_R2"
row "  broker / persistd RSS after it" "$(kb_to_mb "$BROKER2_RSS_KB") MB / $(kb_to_mb "$PD2_RSS_KB") MB" "-" "-"
row "fold of $FOLD_BATCH records, empty sqlite store" "${FOLD_EMPTY:-?} ms" "<= $TARGET_FOLD_MS ms" "$V_FOLD"
row "fold of $FOLD_BATCH records over $FILL_MESSAGES msgs" "${FOLD_BIG:-?} ms (${FOLD_RATIO:-?}x empty)" "<= ${TARGET_FOLD_RATIO}x empty" "$V_FOLDR"
row "storage export, $FILLED msgs (CLI, offline)" "$EXPORT_SECS s ($((EXPORT_BYTES / 1000000)) MB file)" "<= $TARGET_EXPORT_IMPORT_S s" "$V_EXPORT"
row "  its peak RSS" "$(kb_to_mb "${EXPORT_RSS_KB:-0}") MB" "<= $TARGET_CLI_RSS_MB MB" "${V_EXPORT_RSS:-FAIL}"
row "storage import-data of that file" "$IMPORT_SECS s ($IMPORTED msgs)" "<= $TARGET_EXPORT_IMPORT_S s" "$V_IMPORT"
row "  its peak RSS" "$(kb_to_mb "${IMPORT_RSS_KB:-0}") MB" "<= $TARGET_CLI_RSS_MB MB" "$V_IMPORT_RSS"
echo "   (MB = 10^6 bytes; restart times are exec → first 200 on GET /health, polled every ~10 ms;"
echo "    fold times are medians of $FOLD_REPS, fold_commit part: empty $(field "$FOLD_LINE" empty_commit_ms) ms, big $(field "$FOLD_LINE" big_commit_ms) ms)"
echo
echo "== commands (<dir> a fresh temp data dir, <port> the port the broker logged)"
for c in "${CMD_LINES[@]}"; do
	echo "   $c"
done
((ALL_OK)) && exit 0
exit 1
