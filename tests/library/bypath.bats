#!/usr/bin/env bats
# bypath.bats: bats-mtlsshim loaded by path from the checkout, no bats-support (tests/library.bats).
load ../bats-mtlsshim/load
load redis-setup

@test "no bats-support here" {
	! declare -F fail
	! declare -F batslib_decorate
}

@test "accepted" {
	assert_mtls_accepts "$PORT"
}

@test "refuses the trusted client" {
	assert_mtls_refuses "$PORT" client
}
