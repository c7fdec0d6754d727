#!/usr/bin/env bats
# support.bats: bats-mtlsshim with stand-ins for bats-support's batslib_decorate and fail
# (tests/library.bats checks that its failure went through them).
batslib_decorate() { echo "DECORATED[$1]"; cat; }
fail() { { echo "FAILED-BY-FAIL"; cat; } >&2; return 1; }
bats_load_library bats-mtlsshim
load redis-setup

@test "refuses the trusted client" {
	assert_mtls_refuses "$PORT" client
}
