module github.com/parleychat/parley

go 1.26.8

require (
	github.com/peterbourgon/ff/v3 v3.4.0
	golang.org/x/text v0.43.0
)
