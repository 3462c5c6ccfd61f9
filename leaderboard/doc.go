// Package leaderboard is the domain of players and their standing, with no
// storage in it: who a player is (Player, the name and password rules),
// Glicko-2 ratings (glicko2.go), the rank histogram that turns a rating
// into a rank without a query (rank.go), and the pages the site shows
// (Board, PlayerPage, MatchDetail). The postgres package stores and
// queries them; web and cmd import this package for the types.
package leaderboard
