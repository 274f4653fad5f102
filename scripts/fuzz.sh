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
	"./auth FuzzVerify"
	"./cluster FuzzDecodeMessage"
	"./cluster FuzzDecodeDirectory"
)

# fuzz_one runs one target. Go 1.26's fuzzing coordinator can report a bare
# "context deadline exceeded" when -fuzztime ends while a worker is busy (a
# loaded machine; golang/go#75804, fixed in Go 1.27): with no failing input
# written, that run found nothing, and it is run once more. A failing input,
# a panic or anything else fails.
fuzz_one() {
	local pkg=$1 fn=$2 log
	log=$(mktemp)
	for try in 1 2; do
		if go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$fuzztime" -parallel=2 "$pkg" 2>&1 | tee "$log"; then
			rm -f "$log"
			return 0
		fi
		if [ "$try" = 1 ] && grep -q 'context deadline exceeded' "$log" && ! grep -qE 'Failing input written|panic:|_test.go:[0-9]+:' "$log"; then
			echo "fuzz: $fn: the fuzztime deadline race of Go's coordinator (golang/go#75804), no failing input; running it again"
			continue
		fi
		rm -f "$log"
		return 1
	done
	rm -f "$log"
	return 1
}

for t in "${targets[@]}"; do
	read -r pkg fn <<<"$t"
	if [ $# -gt 0 ] && [[ ! " $* " == *" $pkg "* ]]; then continue; fi
	echo "== fuzz $pkg $fn ($fuzztime)"
	fuzz_one "$pkg" "$fn"
done
