#!/usr/bin/env bash
# chaos.sh: run the order-processor against a three-node Lattice cluster while stopping
# nodes: one, then two, then all three, then starting them all again. At the end the
# order-processor is interrupted and reads back every order it acknowledged; the script
# exits non-zero if one is missing.
#
# The script starts its own `lattice serve` processes (the layout of `lattice dev`: HTTP
# 3500-3502, gossip 7946-7948, Raft 7000-7002 on 127.0.0.1) so that it can stop and start
# them one by one. It only ever signals the processes it started, by pid.
#
# UNTESTED: written against the `lattice serve` flags of the team contract before `serve`
# was available; run it once serve lands and fix what differs.
#
# Environment:
#   LATTICE_BIN   lattice binary (default: built from this repository)
#   WORK          directory for data, logs and binaries (default: a new temporary one)
#   PHASE         seconds each phase lasts (default 30)
#   SIGNAL        how nodes are stopped: TERM (graceful, default), KILL (crash) or
#                 STOP (frozen; "started again" with CONT)
#   CONSISTENCY   strong (default: an acknowledged order is committed on a quorum) or
#                 eventual (keeps going on a single node; see README.md for what it risks)
#   KEEP          1 keeps WORK when done (default: removed when the script made it)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PHASE=${PHASE:-30}
SIGNAL=${SIGNAL:-TERM}
CONSISTENCY=${CONSISTENCY:-strong}
KEEP=${KEEP:-0}
HOST=127.0.0.1
NODES=(1 2 3)
HTTP=(3500 3501 3502)
GOSSIP=(7946 7947 7948)
RAFT=(7000 7001 7002)

case "$SIGNAL" in TERM | KILL | STOP) ;; *) echo "SIGNAL must be TERM, KILL or STOP" >&2; exit 2 ;; esac

made_work=0
if [ -z "${WORK:-}" ]; then
	WORK=$(mktemp -d -t lattice-chaos.XXXXXX)
	made_work=1
fi
mkdir -p "$WORK"

declare -A PID=()
APP_PID=""

say() { printf '\n=== %s  %s\n' "$(date +%T)" "$*"; }

cleanup() {
	local status=$?
	[ -n "$APP_PID" ] && kill -INT "$APP_PID" 2>/dev/null || true
	for n in "${!PID[@]}"; do
		kill -CONT "${PID[$n]}" 2>/dev/null || true
		kill -TERM "${PID[$n]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [ "$made_work" = 1 ] && [ "$KEEP" != 1 ]; then
		rm -rf "$WORK"
	else
		echo "data and logs kept in $WORK"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in "${HTTP[@]}"; do
	if curl -fsS -o /dev/null "http://$HOST:$p/v1.0/healthz" 2>/dev/null; then
		echo "something already serves http://$HOST:$p (a lattice dev?): stop it first" >&2
		exit 1
	fi
done

if [ -z "${LATTICE_BIN:-}" ]; then
	say "building lattice and the order-processor into $WORK"
	(cd "$ROOT" && go build -o "$WORK/lattice" ./cmd/lattice)
	LATTICE_BIN="$WORK/lattice"
fi
(cd "$ROOT" && go build -o "$WORK/order-processor" ./examples/order-processor)

TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

# start_node i: start node i (0-based) in the background, output to $WORK/nodeN.log.
start_node() {
	local i=$1 name="node${NODES[$1]}" seeds=() j
	for j in 0 1 2; do
		[ "$j" != "$i" ] && seeds+=("$HOST:${GOSSIP[$j]}")
	done
	"$LATTICE_BIN" serve \
		--node-id "$name" \
		--http-addr "$HOST:${HTTP[$i]}" \
		--gossip-addr "$HOST:${GOSSIP[$i]}" \
		--raft-addr "$HOST:${RAFT[$i]}" \
		--data-dir "$WORK/$name" \
		--join "$(IFS=,; echo "${seeds[*]}")" \
		--bootstrap-expect 3 \
		--cluster-token "$TOKEN" \
		>>"$WORK/$name.log" 2>&1 &
	PID[$i]=$!
	echo "started $name (pid ${PID[$i]}), log $WORK/$name.log"
}

# stop_node i: stop node i with $SIGNAL.
stop_node() {
	local i=$1 name="node${NODES[$1]}"
	kill "-$SIGNAL" "${PID[$i]}"
	if [ "$SIGNAL" != STOP ]; then
		wait "${PID[$i]}" 2>/dev/null || true
	fi
	echo "stopped $name (SIG$SIGNAL)"
}

# resume_node i: start node i again (or continue it when it was frozen).
resume_node() {
	if [ "$SIGNAL" = STOP ]; then
		kill -CONT "${PID[$1]}"
		echo "continued node${NODES[$1]}"
	else
		start_node "$1"
	fi
}

# wait_healthy: until every node answers /v1.0/healthz and one of them names a leader.
wait_healthy() {
	local deadline=$((SECONDS + 90)) p
	for p in "${HTTP[@]}"; do
		until curl -fsS -o /dev/null "http://$HOST:$p/v1.0/healthz" 2>/dev/null; do
			[ $SECONDS -ge $deadline ] && { echo "node on port $p not healthy after 90s" >&2; return 1; }
			sleep 0.2
		done
	done
	until curl -fsS "http://$HOST:${HTTP[0]}/v1.0/cluster/status" 2>/dev/null | grep -Eq '"leader": *\{ *"id": *"[^"]'; do
		[ $SECONDS -ge $deadline ] && { echo "no leader after 90s" >&2; return 1; }
		sleep 0.2
	done
	echo "cluster healthy"
}

phase() {
	say "$*"
	sleep "$PHASE"
}

say "starting three nodes"
for i in 0 1 2; do start_node "$i"; done
wait_healthy

say "starting the order-processor (consistency $CONSISTENCY); its output is prefixed [app]"
ENDPOINTS=$(printf "http://$HOST:%s," "${HTTP[@]}")
"$WORK/order-processor" -endpoints "${ENDPOINTS%,}" -resiliency "$HERE/resiliency.yaml" \
	-consistency "$CONSISTENCY" > >(sed -u 's/^/[app] /') 2>&1 &
APP_PID=$!

phase "all three nodes up"
stop_node 2
phase "node3 down: the cluster still has a quorum; orders go on"
stop_node 1
phase "node2 and node3 down: no quorum (strong orders wait, retrying; eventual ones go on via node1)"
stop_node 0
phase "all nodes down: retries, and the circuit breaker cycling open / half-open"
for i in 0 1 2; do resume_node "$i"; done
wait_healthy
phase "all nodes back: the order-processor resumes by itself with the next order"

say "interrupting the order-processor; it reads back every order it acknowledged"
kill -INT "$APP_PID"
app_status=0
wait "$APP_PID" || app_status=$?
APP_PID=""
if [ "$app_status" = 0 ]; then
	say "PASS: no acknowledged order was lost"
else
	say "FAIL: the order-processor exited with $app_status"
fi
exit "$app_status"
