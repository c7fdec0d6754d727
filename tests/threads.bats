#!/usr/bin/env bats
# threads.bats: one socket read and written by two threads at once, through the shim.

load helpers

setup_file() { common_setup_file; }
setup() { require_build; }
teardown() { common_teardown; }

@test "writer and reader threads share one socket: 8 MB echoed intact by a TLS peer" {
	start_tls_echo
	local c; c=$(client_conf thr "$EPORT")
	run shim "$c" timeout 90 "$PROGS/thrclient" 127.0.0.1 "$EPORT" 8
	show
	[ "$status" -eq 0 ]
	[[ "$output" == "ok bytes=8388608 hash="* ]]
}

@test "three connections, each with its own writer and reader thread" {
	start_tls_echo
	local c; c=$(client_conf thr "$EPORT")
	run shim "$c" timeout 90 "$PROGS/thrclient" 127.0.0.1 "$EPORT" 2 3
	show
	[ "$status" -eq 0 ]
	[ "$(grep -c '^ok bytes=2097152 ' <<< "$output")" -eq 3 ]
}

@test "both ends shimmed: threaded client against the shimmed blocking echo server" {
	start_echo_server thrsrv
	local c; c=$(client_conf thr "$PORT")
	run shim "$c" timeout 90 "$PROGS/thrclient" 127.0.0.1 "$PORT" 4
	show
	[ "$status" -eq 0 ]
	[[ "$output" == "ok bytes=4194304 hash="* ]]
	assert_file_has "$SRVOUT" '^done 1 in=4194304 out=4194304$'
}

@test "echo traffic on 4 connections while other threads dup, dup2, close, re-register in epoll and fork: every echo intact" {
	start_tls_echo
	wire_start "$EPORT"
	local c; c=$(client_conf churn "$EPORT")
	run shim "$c" timeout 120 "$PROGS/fdchurn" 127.0.0.1 "$EPORT" 4 3000
	show
	[ "$status" -eq 0 ]
	[[ "$output" == "ok conns=4 rounds=3000 dups="* ]]
	# the churn really ran beside the traffic
	[[ ! "$output" =~ dups=0\  ]]
	[[ ! "$output" =~ forks=0$ ]]
	wire_check --min-conns 4
}
