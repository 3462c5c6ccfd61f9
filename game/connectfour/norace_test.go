//go:build !race

package connectfour

const raceEnabled = false
