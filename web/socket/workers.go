package socket

import "sync"

// maxIdleWorkers bounds the goroutines kept waiting for work; a worker
// that finds this many idle ones exits instead. Each keeps its grown stack
// (about 8 KiB).
const maxIdleWorkers = 256

// workers runs the connections' short tasks (reading and handling one
// frame, a write pump's batch) on goroutines that stay between tasks.
// A goroutine started per task would begin with a 2 KiB stack and grow it
// by copying to the 8 KiB the task needs, every time: that copying was 15%
// of the server's CPU under load. A worker keeps its stack. Workers run
// while the server has connections: when the last one goes, idle workers
// exit (goleak sees none), and the next connection starts a new set. Safe
// for concurrent use.
type workers struct {
	wg *sync.WaitGroup // immutable: the server's count of connection goroutines

	mu   sync.Mutex
	idle []*worker     // guarded by mu; the most recently parked last
	quit chan struct{} // guarded by mu; closed by stop; nil while stopped
}

type worker struct {
	task chan task // capacity 1: a task is handed over without blocking
}

type task struct {
	f    func()
	done chan struct{} // closed once f has returned and the worker is idle again; may be nil
}

// start opens the pool. Call it with the server's first connection.
func (p *workers) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quit == nil {
		p.quit = make(chan struct{})
	}
}

// stop makes idle workers exit, and busy ones once their task is done.
// Call it when the server's last connection is gone.
func (p *workers) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quit != nil {
		close(p.quit) // idle workers take themselves out of idle
		p.quit = nil
	}
}

// run runs f on an idle worker, or a new one. The caller must hold a
// count in wg (it serves a connection), so that the new worker's Add does
// not race with a Wait at zero.
func (p *workers) run(f func()) { p.hand(task{f: f}) }

// runWait runs f on a worker and waits for it to return. The worker is
// idle again when runWait returns, so a caller that runs tasks one after
// another keeps to one worker.
func (p *workers) runWait(f func()) {
	done := make(chan struct{})
	p.hand(task{f: f, done: done})
	<-done
}

func (p *workers) hand(t task) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.task <- t
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	w := &worker{task: make(chan task, 1)}
	w.task <- t
	go p.loop(w)
}

func (p *workers) loop(w *worker) {
	defer p.wg.Done()
	t := <-w.task
	for {
		quit, ok := p.do(w, t)
		if !ok {
			return
		}
		select {
		case t = <-w.task:
		case <-quit:
			if p.leave(w) {
				return
			}
			t = <-w.task // taken just before stop: its task is on the way
		}
	}
}

// do runs t, then parks w (see park). If t panics (a bug: tasks recover
// what they expect), its waiter is still released and the panic goes on.
func (p *workers) do(w *worker, t task) (quit chan struct{}, ok bool) {
	defer func() {
		if t.done != nil {
			close(t.done)
		}
	}()
	t.f()
	return p.park(w)
}

// park puts w among the idle workers, unless the pool is stopped or has
// enough idle ones; it returns the quit channel w must watch.
func (p *workers) park(w *worker) (chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quit == nil || len(p.idle) >= maxIdleWorkers {
		return nil, false
	}
	p.idle = append(p.idle, w)
	return p.quit, true
}

// leave removes w from the idle workers; false means run has taken it.
func (p *workers) leave(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, v := range p.idle {
		if v == w {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return true
		}
	}
	return false
}
