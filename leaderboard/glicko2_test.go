package leaderboard

import (
	"math"
	"testing"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// The worked example of Glickman's "Example of the Glicko-2 system": a
// 1500/200 player beats a 1400/30 player and loses to 1550/100 and
// 1700/300 ones in one rating period.
func paperResults() []Result {
	return []Result{
		{Opponent: Rating{Rating: 1400, RD: 30, Volatility: DefaultVolatility}, Score: 1},
		{Opponent: Rating{Rating: 1550, RD: 100, Volatility: DefaultVolatility}, Score: 0},
		{Opponent: Rating{Rating: 1700, RD: 300, Volatility: DefaultVolatility}, Score: 0},
	}
}

func TestPaperExample(t *testing.T) {
	p := Rating{Rating: 1500, RD: 200, Volatility: 0.06}
	got := Glicko2{Tau: 0.5}.Update(p, paperResults())
	// The paper rounds its intermediate values (and so gets 1464.06).
	if !near(got.Rating, 1464.06, 0.01) || !near(got.RD, 151.52, 0.01) || !near(got.Volatility, 0.05999, 0.00001) {
		t.Errorf("Update = %+v, want ≈ 1464.06 / 151.52 / 0.05999", got)
	}
	// Without rounding, implementations agree on these.
	if !near(got.Rating, 1464.0506705, 1e-6) || !near(got.RD, 151.5165241, 1e-6) || !near(got.Volatility, 0.0599959843, 1e-9) {
		t.Errorf("Update = %+v, want 1464.0506705 / 151.5165241 / 0.0599959843", got)
	}
	if (Glicko2{}).Update(p, paperResults()) != got {
		t.Error("the zero Glicko2 does not use tau 0.5")
	}
}

// TestPaperVolatilityStep checks step 5 alone against the paper's
// intermediate values: v = 1.7785, Δ = −0.4834, σ' = 0.05999.
func TestPaperVolatilityStep(t *testing.T) {
	phi := 200 / glicko2Scale
	got := newVolatility(phi, 0.06, 1.7785, -0.4834, 0.5)
	if !near(got, 0.05999, 0.00001) { // from rounded v and Δ
		t.Errorf("σ' = %.6f, want ≈ 0.05999", got)
	}
}

func TestGame(t *testing.T) {
	fresh := NewRating()
	est := Rating{Rating: 1500, RD: 60, Volatility: 0.06}
	strong := Rating{Rating: 1900, RD: 60, Volatility: 0.06}
	tests := map[string]struct {
		a, b   Rating
		scoreA float64
		check  func(t *testing.T, a, b, a2, b2 Rating)
	}{
		"equals, a wins: zero-sum": {fresh, fresh, 1, func(t *testing.T, a, b, a2, b2 Rating) {
			if !(a2.Rating > a.Rating && b2.Rating < b.Rating) {
				t.Errorf("winner %v, loser %v", a2.Rating, b2.Rating)
			}
			if !near(a2.Rating-a.Rating, b.Rating-b2.Rating, 1e-9) || !near(a2.RD, b2.RD, 1e-9) {
				t.Errorf("not symmetric: %+v %+v", a2, b2)
			}
		}},
		"equals, b wins: mirror image": {fresh, fresh, 0, func(t *testing.T, a, b, a2, b2 Rating) {
			wa, wb := (Glicko2{}).Game(a, b, 1)
			if !near(a2.Rating, wb.Rating, 1e-9) || !near(b2.Rating, wa.Rating, 1e-9) {
				t.Errorf("b winning gives %v/%v, a winning %v/%v", a2.Rating, b2.Rating, wa.Rating, wb.Rating)
			}
		}},
		"equals, draw: ratings unchanged, RD down": {fresh, fresh, 0.5, func(t *testing.T, a, b, a2, b2 Rating) {
			if !near(a2.Rating, a.Rating, 1e-9) || !near(b2.Rating, b.Rating, 1e-9) {
				t.Errorf("draw moved ratings: %v %v", a2.Rating, b2.Rating)
			}
			if !(a2.RD < a.RD && b2.RD < b.RD) {
				t.Errorf("RD did not shrink: %v %v", a2.RD, b2.RD)
			}
		}},
		"established equals, draw: unchanged": {est, est, 0.5, func(t *testing.T, a, b, a2, b2 Rating) {
			if !near(a2.Rating, a.Rating, 1e-9) || !near(b2.Rating, b.Rating, 1e-9) {
				t.Errorf("draw moved ratings: %v %v", a2.Rating, b2.Rating)
			}
		}},
		"favourite wins: small gain, equal to the loss": {strong, est, 1, func(t *testing.T, a, b, a2, b2 Rating) {
			gain, loss := a2.Rating-a.Rating, b.Rating-b2.Rating
			if !(gain > 0 && gain < 5) || !near(gain, loss, 1e-6) {
				t.Errorf("gain %v, loss %v", gain, loss)
			}
		}},
		"upset: large gain, equal to the loss": {est, strong, 1, func(t *testing.T, a, b, a2, b2 Rating) {
			gain, loss := a2.Rating-a.Rating, b.Rating-b2.Rating
			if !(gain > 15) || !near(gain, loss, 1e-6) {
				t.Errorf("gain %v, loss %v", gain, loss)
			}
		}},
		"draw with the favourite: underdog gains": {est, strong, 0.5, func(t *testing.T, a, b, a2, b2 Rating) {
			if !(a2.Rating > a.Rating && b2.Rating < b.Rating) {
				t.Errorf("underdog %v, favourite %v", a2.Rating, b2.Rating)
			}
		}},
		"fresh beats established: the fresh one moves more": {fresh, est, 1, func(t *testing.T, a, b, a2, b2 Rating) {
			if !(a2.Rating-a.Rating > b.Rating-b2.Rating) {
				t.Errorf("fresh +%v, established −%v", a2.Rating-a.Rating, b.Rating-b2.Rating)
			}
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			a2, b2 := (Glicko2{}).Game(tt.a, tt.b, tt.scoreA)
			tt.check(t, tt.a, tt.b, a2, b2)
		})
	}
}

func TestIdle(t *testing.T) {
	r := Rating{Rating: 1700, RD: 50, Volatility: 0.06}
	once := r.Idle(1)
	wantRD := glicko2Scale * math.Sqrt(math.Pow(50/glicko2Scale, 2)+0.06*0.06)
	if once.Rating != r.Rating || once.Volatility != r.Volatility || !near(once.RD, wantRD, 1e-9) {
		t.Errorf("Idle(1) = %+v, want RD %v", once, wantRD)
	}
	if twice := r.Idle(1).Idle(1); !near(twice.RD, r.Idle(2).RD, 1e-9) {
		t.Errorf("Idle(1) twice %v, Idle(2) %v", twice.RD, r.Idle(2).RD)
	}
	if r.Idle(0) != r {
		t.Errorf("Idle(0) changed the rating")
	}
	if got := r.Idle(1_000_000); got.RD != MaxRD {
		t.Errorf("RD after long idleness %v, want capped at %v", got.RD, MaxRD)
	}
	if got := (Glicko2{}).Update(r, nil); got != once {
		t.Errorf("Update without results = %+v, want Idle(1) = %+v", got, once)
	}
}

func TestProvisional(t *testing.T) {
	tests := map[float64]bool{350: true, 110.01: true, 110: false, 45: false}
	for rd, want := range tests {
		if got := (Rating{Rating: 1500, RD: rd, Volatility: 0.06}).Provisional(); got != want {
			t.Errorf("RD %v: Provisional() = %v, want %v", rd, got, want)
		}
	}
	// A fresh player stops being provisional after some games.
	g, r, opp := Glicko2{}, NewRating(), NewRating()
	games := 0
	for ; r.Provisional(); games++ {
		r = g.Update(r, []Result{{Opponent: opp, Score: float64(games % 2)}})
	}
	if games < 5 || games > 30 {
		t.Errorf("provisional for %d games", games)
	}
}

func TestOutOfDomainInput(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	bad := []Rating{
		{Rating: nan, RD: nan, Volatility: nan},
		{Rating: inf, RD: -1, Volatility: -1},
		{Rating: 1e300, RD: 1e300, Volatility: 1e300},
		{Rating: -1e300, RD: 1e-300, Volatility: 1e-300},
		{Rating: 1500, RD: 0, Volatility: 0},
	}
	for _, p := range bad {
		for _, o := range bad {
			for _, tau := range []float64{0, -1, nan, 1e-300, 1e300} {
				got := Glicko2{Tau: tau}.Update(p, []Result{{Opponent: o, Score: 1}, {Opponent: NewRating(), Score: nan}, {Opponent: o, Score: 7}})
				checkRating(t, got)
			}
		}
	}
}

func checkRating(t *testing.T, r Rating) {
	t.Helper()
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if !finite(r.Rating) || !finite(r.RD) || !finite(r.Volatility) || !(r.RD > 0 && r.RD <= MaxRD) || !(r.Volatility > 0) {
		t.Fatalf("out of range: %+v", r)
	}
}

func FuzzUpdate(f *testing.F) {
	f.Add(1500.0, 200.0, 0.06, 1400.0, 30.0, 1550.0, 100.0, 1.0, 0.0, 0.5)
	f.Add(1500.0, 350.0, 0.06, 1500.0, 350.0, 1500.0, 350.0, 0.5, 0.5, 0.3)
	f.Add(3000.0, 30.0, 0.2, 0.0, 350.0, -500.0, 1.0, 0.0, 1.0, 1.2)
	f.Fuzz(func(t *testing.T, r, rd, vol, r1, rd1, r2, rd2, s1, s2, tau float64) {
		g := Glicko2{Tau: tau}
		p := Rating{Rating: r, RD: rd, Volatility: vol}
		o1 := Rating{Rating: r1, RD: rd1, Volatility: vol}
		o2 := Rating{Rating: r2, RD: rd2, Volatility: DefaultVolatility}
		checkRating(t, g.Update(p, []Result{{Opponent: o1, Score: s1}, {Opponent: o2, Score: s2}}))
		a, b := g.Game(p, o1, s1)
		checkRating(t, a)
		checkRating(t, b)
		checkRating(t, p.Idle(int(math.Mod(math.Abs(s2), 1000))))
	})
}

func BenchmarkUpdate(b *testing.B) {
	g, p := Glicko2{}, Rating{Rating: 1500, RD: 200, Volatility: 0.06}
	for b.Loop() {
		p = g.Update(p, paperResults())
	}
}

func BenchmarkGame(b *testing.B) {
	g, x, y := Glicko2{}, NewRating(), NewRating()
	for b.Loop() {
		x, y = g.Game(x, y, 1)
	}
}
