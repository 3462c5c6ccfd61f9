// Package postgres is the PostgreSQL adapter of turnbase's stores: the
// accounts (accounts.go), the match journal that makes every move durable
// before anyone sees it, with its spool and leases (journal.go, spool.go),
// the rating of finished matches (the rater), and the read queries behind
// the leaderboard, player and match pages (queries.go). Only cmd/turnbase
// wires it; the other packages declare the interfaces they need.
package postgres
