#!/usr/bin/env bash
# localzure supervisor: runs localzure-persistd, waits until it is ready, runs localzure-broker,
# and restarts whichever child dies (with a growing back-off and a log line). SIGTERM or SIGINT
# stops the broker first (it flushes its journal), then persistd (which folds its WAL into the
# backend and, with auto_compact, compacts it), and exits 0.
#
#   deploy/supervisor.sh [--config FILE]
#
# Environment: every LOCALZURE_* key of docs/configuration.md reaches both children (defaults:
# durability sync, storage sqlite, data dir ./localzure-data). LOCALZURE_BIN_DIR points at the
# build directory (default: ../build next to this script) and is not passed on. Child output goes
# to LOG_DIR (default <LOCALZURE_DATA_DIR or ./localzure-data>/logs)/{persistd,broker}.log.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin_dir=${LOCALZURE_BIN_DIR:-$here/../build}
# Not a daemon setting: the children refuse unknown LOCALZURE_* keys.
unset LOCALZURE_BIN_DIR
persistd_bin=$bin_dir/persistd/localzure-persistd
broker_bin=$bin_dir/broker/localzure-broker

config_args=()
while (($# > 0)); do
	case $1 in
	--config)
		[[ $# -ge 2 ]] || { echo "supervisor: --config needs a file" >&2; exit 2; }
		config_args=(--config "$2")
		export LOCALZURE_CONFIG=$2
		shift 2
		;;
	-h | --help)
		sed -n '2,13p' "$0"
		exit 0
		;;
	*)
		echo "supervisor: unknown argument '$1' (see --help)" >&2
		exit 2
		;;
	esac
done

# Without a config file the defaults are the daemons' own (durability sync, sqlite); with one,
# nothing is exported here, because the environment would override the file.
data_dir=${LOCALZURE_DATA_DIR:-./localzure-data}
for b in "$persistd_bin" "$broker_bin"; do
	[[ -x $b ]] || { echo "supervisor: $b is missing; build first (deploy/run.sh builds)" >&2; exit 2; }
done
log_dir=${LOG_DIR:-$data_dir/logs}
mkdir -p "$log_dir" || exit 2

say() {
	printf 'ts=%s level=info proc=supervisor msg="%s"\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$*" >&2
}

PERSISTD_PID=
BROKER_PID=
persistd_started=0
broker_started=0
stopping=0

# wait_ready NAME PID LOG OFFSET PATTERN: waits (at most 60 s) for PATTERN in LOG after OFFSET.
wait_ready() {
	local name=$1 pid=$2 log=$3 off=$4 pattern=$5 i
	for ((i = 0; i < 600; i++)); do
		if tail -c +"$((off + 1))" "$log" 2>/dev/null | grep -q "$pattern"; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			say "$name exited during start-up; see $log"
			tail -n 5 "$log" >&2
			return 1
		fi
		sleep 0.1
	done
	say "$name did not become ready within 60 s; see $log"
	return 1
}

start_persistd() {
	local off
	off=$(stat -c %s "$log_dir/persistd.log" 2>/dev/null || echo 0)
	"$persistd_bin" "${config_args[@]}" >>"$log_dir/persistd.log" 2>&1 &
	PERSISTD_PID=$!
	persistd_started=$SECONDS
	say "started persistd pid=$PERSISTD_PID"
	wait_ready persistd "$PERSISTD_PID" "$log_dir/persistd.log" "$off" 'msg="ready"'
}

start_broker() {
	local off
	off=$(stat -c %s "$log_dir/broker.log" 2>/dev/null || echo 0)
	"$broker_bin" >>"$log_dir/broker.log" 2>&1 &
	BROKER_PID=$!
	broker_started=$SECONDS
	say "started broker pid=$BROKER_PID"
	wait_ready broker "$BROKER_PID" "$log_dir/broker.log" "$off" 'msg="listening"'
}

# stop_all [STATUS]: broker first (it flushes its journal), then persistd (it folds), then exit.
stop_all() {
	local code=${1:-0}
	stopping=1
	say "stopping"
	if [[ -n $BROKER_PID ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
		kill -TERM "$BROKER_PID"
		wait "$BROKER_PID"
		say "broker stopped status=$?"
	fi
	if [[ -n $PERSISTD_PID ]] && kill -0 "$PERSISTD_PID" 2>/dev/null; then
		kill -TERM "$PERSISTD_PID"
		wait "$PERSISTD_PID"
		say "persistd stopped status=$?"
	fi
	exit "$code"
}
trap 'stop_all 0' TERM INT

start_persistd || stop_all 1
start_broker || stop_all 1
say "ready logs=$log_dir"

# Back-off doubles up to 30 s while a child keeps dying, and starts over after a run of 60 s.
backoff_persistd=1
backoff_broker=1
while ((stopping == 0)); do
	wait -n "$PERSISTD_PID" "$BROKER_PID"
	status=$?
	((stopping == 1)) && break
	if ! kill -0 "$PERSISTD_PID" 2>/dev/null; then
		((SECONDS - persistd_started > 60)) && backoff_persistd=1
		say "persistd exited status=$status; restarting in ${backoff_persistd}s (see $log_dir/persistd.log)"
		sleep "$backoff_persistd"
		backoff_persistd=$((backoff_persistd < 30 ? backoff_persistd * 2 : 30))
		start_persistd
	fi
	if ! kill -0 "$BROKER_PID" 2>/dev/null; then
		((SECONDS - broker_started > 60)) && backoff_broker=1
		say "broker exited status=$status; restarting in ${backoff_broker}s (see $log_dir/broker.log)"
		sleep "$backoff_broker"
		backoff_broker=$((backoff_broker < 30 ? backoff_broker * 2 : 30))
		start_broker
	fi
done
