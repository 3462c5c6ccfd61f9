// Package leaderboard rates players and ranks them: Glicko-2 ratings as
// pure functions (glicko2.go), and their storage and queries.
package leaderboard
