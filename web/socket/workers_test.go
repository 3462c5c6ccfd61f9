package socket

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestWorkers(t *testing.T) {
	// wg counts a worker out in its deferred Done, a moment before its
	// goroutine is gone from the stacks, so counts of workers are waited
	// for: first for the last test's workers to be gone.
	workersAre := func(what string, n int) {
		t.Helper()
		waitFor(t, what, func() bool { return goroutines("socket.(*workers).loop(") == n })
	}
	workersAre("the workers of earlier tests to exit", 0)
	var wg sync.WaitGroup
	p := &workers{wg: &wg}
	p.start()
	t.Cleanup(func() {
		p.stop()
		wg.Wait()
	})

	// Tasks one after another reuse one worker.
	for range 100 {
		p.runWait(func() {})
	}
	if n := goroutines("socket.(*workers).loop("); n != 1 {
		t.Fatalf("%d workers after sequential tasks, want 1", n)
	}

	// Concurrent tasks each get a worker; all run.
	var ran atomic.Int32
	release := make(chan struct{})
	var started sync.WaitGroup
	for range 20 {
		started.Add(1)
		p.run(func() {
			started.Done()
			<-release
			ran.Add(1)
		})
	}
	started.Wait() // 20 tasks at once: 20 workers
	close(release)
	waitFor(t, "the tasks", func() bool { return ran.Load() == 20 })
	waitFor(t, "20 idle workers", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.idle) == 20
	})

	// Stop: idle workers exit.
	p.stop()
	wg.Wait()
	workersAre("no workers after stop", 0)

	// A task after stop still runs, on a worker that then exits; a
	// restarted pool works again.
	p.runWait(func() { ran.Add(1) })
	wg.Wait()
	p.start()
	p.runWait(func() { ran.Add(1) })
	if ran.Load() != 22 {
		t.Fatalf("%d tasks ran, want 22", ran.Load())
	}
	p.stop()
	wg.Wait()
}

// Tasks handed out while the pool stops and starts again are never lost.
func TestWorkersStopRace(t *testing.T) {
	var wg sync.WaitGroup
	p := &workers{wg: &wg}
	p.start()
	var ran atomic.Int32
	var tasks sync.WaitGroup
	for i := range 2000 {
		tasks.Add(1)
		p.run(func() {
			ran.Add(1)
			tasks.Done()
		})
		if i%50 == 0 {
			p.stop()
			p.start()
		}
	}
	tasks.Wait()
	p.stop()
	wg.Wait()
	if ran.Load() != 2000 {
		t.Fatalf("%d of 2000 tasks ran", ran.Load())
	}
}

func BenchmarkWorkersRunWait(b *testing.B) {
	var wg sync.WaitGroup
	p := &workers{wg: &wg}
	p.start()
	b.ReportAllocs()
	for b.Loop() {
		p.runWait(deepTask)
	}
	p.stop()
	wg.Wait()
}

func BenchmarkFreshGoroutine(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			deepTask()
		}()
		<-done
	}
}

// deepTask needs a stack of about 8 KiB, as reading and handling a frame
// does.
func deepTask() { deep(6 << 10) }

//go:noinline
func deep(n int) byte {
	var pad [512]byte
	if n <= 0 {
		return pad[0]
	}
	pad[1] = deep(n - len(pad))
	return pad[1]
}
