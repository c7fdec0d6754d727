#!/usr/bin/env bats
# layering.bats: src/'s folders depend downward only (tests/layering.sh on the build under test):
# no call by name to an exported hook below or beside the hooks, no include of a higher folder,
# no import circle among the preload's objects.

load helpers

@test "layering: nothing calls an exported hook, includes point down, no import circle" {
	run "$REPO/tests/layering.sh" "$BUILD"
	echo "$output"
	[ "$status" -eq 0 ]
}
