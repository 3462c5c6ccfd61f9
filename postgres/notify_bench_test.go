package postgres

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnbase/turnbase/internal/pgtest"
)

// BenchmarkNotify measures what the inter-node channel carries: payloads
// of 700 bytes (a batch of a few frames) sent by 4 senders through the
// pool, each NOTIFY its own transaction, to one listener; reports
// payloads per second delivered.
func BenchmarkNotify(b *testing.B) {
	pool, _ := pgtest.NewDB(b)
	ctx, cancel := context.WithCancel(context.Background())
	var got atomic.Int64
	done := make(chan struct{}, 1)
	want := int64(b.N)
	l := NewListener(pool, discard(), map[string]func(string){
		"bench": func(string) {
			if got.Add(1) == want {
				done <- struct{}{}
			}
		},
	})
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) })
	<-l.Listening()
	defer func() { cancel(); wg.Wait() }()
	payload := strings.Repeat("x", 700)
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var senders sync.WaitGroup
	for range 4 {
		senders.Go(func() {
			for next.Add(1) <= want {
				if err := Notify(ctx, pool, "bench", payload); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	senders.Wait()
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d delivered", got.Load(), want)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "payloads/s")
}
