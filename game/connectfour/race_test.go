//go:build race

package connectfour

// raceEnabled: the race detector slows search about tenfold, so the
// strength test plays fewer games and does not time them.
const raceEnabled = true
