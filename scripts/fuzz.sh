#!/usr/bin/env bash
# Runs every fuzz target for a short while (FUZZTIME, default 10s each) on
# top of its committed seed corpus (testdata/fuzz/). A failure leaves the
# crashing input in that package's testdata/fuzz/FuzzXxx/: commit it with
# the fix so it becomes a regression test.
#
#   scripts/fuzz.sh                 # all targets, 10s each
#   FUZZTIME=2m scripts/fuzz.sh     # longer
#   scripts/fuzz.sh ./chat          # only the targets of one package
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}

targets=(
	"./wire/frame FuzzReadFrame"
	"./wire/frame FuzzParseHeader"
	"./wire/line FuzzReadLine"
	"./wire/native FuzzDecodeRequest"
	"./wire/native FuzzDecodeEvent"
	"./wire/native FuzzProtocol"
	"./chat FuzzParseCommand"
	"./chat FuzzExec"
	"./chat FuzzCleanText"
	"./chat FuzzValidateName"
	"./wire/render FuzzRender"
	"./wire/raw FuzzReader"
	"./client FuzzSanitize"
	"./server FuzzReader"
	"./wire/irc FuzzParse"
	"./wire/irc FuzzClient"
)

for t in "${targets[@]}"; do
	read -r pkg fn <<<"$t"
	if [ $# -gt 0 ] && [[ ! " $* " == *" $pkg "* ]]; then continue; fi
	echo "== fuzz $pkg $fn ($fuzztime)"
	go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$fuzztime" -parallel=2 "$pkg"
done
