package match

import "context"

type connKey struct{}

// WithConn returns ctx carrying the connection a request came from, for
// callees that must reach that connection later (the cluster's lobby sends
// match.found to the socket that queued, wherever the match starts).
func WithConn(ctx context.Context, c Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// ConnFrom returns the connection WithConn put in ctx, if any.
func ConnFrom(ctx context.Context) (Conn, bool) {
	c, ok := ctx.Value(connKey{}).(Conn)
	return c, ok && c != nil
}
