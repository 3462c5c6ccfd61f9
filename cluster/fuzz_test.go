package cluster

import "testing"

// FuzzRouterDeliver: whatever a payload on a node's channel holds (every
// operation, the lobby's included, with any fields), delivering it never
// panics, never blocks, and leaves nothing running once the nodes stop
// (goleak, in TestMain). Only nodes with the database's credentials can
// NOTIFY, but a node of another version, or a bug, must not bring a node
// down.
func FuzzRouterDeliver(f *testing.F) {
	for _, seed := range []string{
		`[{"op":"watch","from":"b","c":1,"p":"x","m":"m1","r":2}]`,
		`[{"op":"move","from":"b","c":1,"p":"x","m":"m1","mv":{"cell":4},"r":3}]`,
		`[{"op":"resign","from":"b","c":1,"p":"x","m":"m1","r":4},{"op":"rematch","from":"b","c":1,"p":"x","m":"m1","r":5}]`,
		`[{"op":"unwatch","from":"b","c":1,"m":"m1"},{"op":"gone","from":"b","c":1}]`,
		`[{"op":"reply","from":"b","r":7,"code":"not_your_turn","text":"no"}]`,
		`[{"op":"frame","from":"b","c":1,"f":{"type":"match.state"}}]`,
		`[{"op":"lobby","from":"b","c":1,"r":8,"b":{"k":"join","t":{"PlayerID":"x","Game":"tictactoe","Rating":1500}}}]`,
		`[{"op":"lobby","from":"b","c":1,"r":9,"b":{"k":"accept","code":"ABCDEFGH","t":{"PlayerID":"y"}}}]`,
		`[{"op":"lobby.reply","from":"b","r":8,"b":{"t":{},"st":{"tictactoe":1}}}]`,
		`[{"op":"lobby.start","from":"b","r":10,"b":{}},{"op":"lobby.offer","from":"b","b":{"PlayerID":"x"}}]`,
		`[{"op":"lobby.paired","from":"b","p":"x"},{"op":"lobby.seated","from":"b","c":1,"m":"m1"}]`,
		`[{"op":"lobby","from":"b","b":"not an object"}]`,
		`[{}]`, `[null]`, `{}`, `not json`, ``,
	} {
		f.Add([]byte(seed))
	}
	el := &elector{}
	el.set("a")
	nodes := lobbyCluster(f, el, "a", "b")
	f.Fuzz(func(t *testing.T, payload []byte) {
		nodes["a"].r.Deliver(payload) // the lobby node
		nodes["b"].r.Deliver(payload)
	})
}
