//go:build race

package main_test

// raceFlags builds the service under test with the race detector when the
// test itself runs with -race (as `make test` does).
var raceFlags = []string{"-race"}
