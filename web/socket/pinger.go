package socket

import "time"

// pingSlices is how many parts the pinger splits the connections into: it
// pings one part every PingPeriod/pingSlices, so that 20,000 connections
// do not all start a write pump at the same moment.
const pingSlices = 16

// pinger pings every open connection once per PingPeriod, one slice of
// them at a time, until stop is closed. The server runs one while it has
// connections (register starts it, the last unregister stops it).
func (s *Server) pinger(stop <-chan struct{}) {
	defer s.wg.Done()
	tick := time.NewTicker(max(s.cfg.PingPeriod/pingSlices, time.Millisecond))
	defer tick.Stop()
	var due []*Conn
	for slot := 0; ; slot = (slot + 1) % pingSlices {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		due = s.pingDue(due[:0], slot)
		for _, c := range due {
			c.ping()
		}
		clear(due)
	}
}

// pingDue appends to due the open connections of slot.
func (s *Server) pingDue(due []*Conn, slot int) []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.open {
		if c.pingSlot == slot {
			due = append(due, c)
		}
	}
	return due
}
