//go:build race

package web

// raceEnabled: the race detector slows CPU-bound code such as bcrypt
// about tenfold.
const raceEnabled = true
