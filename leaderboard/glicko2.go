package leaderboard

import "math"

// Glicko-2 starting values, and the limits turnbase keeps ratings in.
const (
	DefaultRating     = 1500.0
	DefaultRD         = 350.0
	DefaultVolatility = 0.06
	DefaultTau        = 0.5

	// MaxRD caps the rating deviation: a rating is never less certain than
	// a new player's.
	MaxRD = 350.0

	// ProvisionalRD is the deviation above which a rating is provisional:
	// too uncertain to rank.
	ProvisionalRD = 110.0

	// glicko2Scale converts between the Glicko scale (ratings around 1500)
	// and the Glicko-2 scale (around 0): μ = (r − 1500) / 173.7178.
	glicko2Scale = 173.7178

	// convergence is ε, the tolerance of the volatility iteration.
	convergence = 0.000001

	// maxIterations bounds the volatility iteration. The Illinois method
	// converges in a few dozen steps on any real input; the bound only
	// guarantees an answer on absurd ones.
	maxIterations = 1000

	// Tau and volatility are kept within these bounds, so that the
	// arithmetic stays finite and RD positive. Real volatilities are a few
	// hundredths.
	minTau, maxTau               = 0.05, 5.0
	minVolatility, maxVolatility = 1e-6, 1.0
)

// Rating is a player's Glicko-2 rating, on the Glicko scale.
type Rating struct {
	Rating     float64 // r: the estimate of the player's strength
	RD         float64 // rating deviation: the uncertainty of r
	Volatility float64 // σ: how erratic the player's results are
}

// NewRating returns the rating of a player with no games: 1500, RD 350,
// volatility 0.06.
func NewRating() Rating {
	return Rating{Rating: DefaultRating, RD: DefaultRD, Volatility: DefaultVolatility}
}

// Provisional reports whether the rating is still too uncertain to rank:
// its RD is above ProvisionalRD (110).
func (r Rating) Provisional() bool { return r.RD > ProvisionalRD }

// Idle returns r after the given number of rating periods without games:
// rating and volatility stay, the deviation grows as φ' = √(φ² + n·σ²) (on
// the Glicko-2 scale), up to MaxRD.
func (r Rating) Idle(periods int) Rating {
	r = r.normalized()
	if periods <= 0 {
		return r
	}
	phi := r.RD / glicko2Scale
	r.RD = math.Min(glicko2Scale*math.Sqrt(phi*phi+float64(periods)*r.Volatility*r.Volatility), MaxRD)
	return r
}

// normalized returns r with each value outside the domain replaced: a
// rating that is not finite by DefaultRating, an RD not in (0, MaxRD] by
// MaxRD, a volatility that is not positive by DefaultVolatility, and one
// outside [1e-6, 1] by the nearer bound.
func (r Rating) normalized() Rating {
	if math.IsNaN(r.Rating) || math.IsInf(r.Rating, 0) {
		r.Rating = DefaultRating
	}
	if !(r.RD > 0 && r.RD <= MaxRD) { // NaN too
		r.RD = MaxRD
	}
	if !(r.Volatility > 0) { // NaN too
		r.Volatility = DefaultVolatility
	}
	r.Volatility = min(max(r.Volatility, minVolatility), maxVolatility)
	return r
}

// Result is one game of a rating period, seen from the rated player.
type Result struct {
	Opponent Rating  // the opponent's rating at the start of the period
	Score    float64 // 1 for a win, 0.5 for a draw, 0 for a loss
}

// Glicko2 computes ratings with the Glicko-2 system, as described by Mark
// Glickman in "Example of the Glicko-2 system" (2013). Its methods are pure
// functions. The zero value uses DefaultTau.
type Glicko2 struct {
	// Tau (τ) constrains how fast volatility changes: smaller values keep
	// improbable results from moving ratings far. The paper suggests 0.3 to
	// 1.2. Zero or less means DefaultTau; it is kept within [0.05, 5].
	Tau float64
}

func (g Glicko2) tau() float64 {
	switch {
	case !(g.Tau > 0): // NaN too
		return DefaultTau
	case g.Tau < minTau:
		return minTau
	case g.Tau > maxTau:
		return maxTau
	}
	return g.Tau
}

// Update returns the player's rating after a rating period with the given
// results, all computed from the ratings at the start of the period. With
// no results it is p.Idle(1).
//
// Any input gives a finite result with an RD in (0, MaxRD]: a rating value
// that is not finite is taken as 1500, an RD outside (0, MaxRD] as MaxRD, a
// volatility that is not positive as 0.06 and one outside [1e-6, 1] as
// the nearer bound; scores are clamped to [0, 1], and results with a NaN
// score are ignored.
func (g Glicko2) Update(p Rating, results []Result) Rating {
	p = p.normalized()
	tau := g.tau()

	// Step 2: the Glicko-2 scale.
	mu := (p.Rating - DefaultRating) / glicko2Scale
	phi := p.RD / glicko2Scale
	sigma := p.Volatility

	// Steps 3 and 4: the estimated variance v of the rating from the game
	// outcomes alone, and the estimated improvement Δ = v·Σ g(φj)(sj − E).
	var vInv, improvement float64
	for _, res := range results {
		if math.IsNaN(res.Score) {
			continue
		}
		o := res.Opponent.normalized()
		gj := g2(o.RD / glicko2Scale)
		e := expectedScore(mu, (o.Rating-DefaultRating)/glicko2Scale, gj)
		vInv += gj * gj * e * (1 - e)
		improvement += gj * (min(max(res.Score, 0), 1) - e)
	}
	v := 1 / vInv
	if math.IsInf(v, 0) {
		// No results, or only ones whose outcome was certain (E is 0 or 1
		// to double precision): the period tells nothing about the player.
		return p.Idle(1)
	}
	delta := v * improvement

	// Step 5: the new volatility.
	sigma = newVolatility(phi, sigma, v, delta, tau)

	// Steps 6 and 7: the new deviation and rating.
	phiStar := math.Sqrt(phi*phi + sigma*sigma)
	phi = 1 / math.Sqrt(1/(phiStar*phiStar)+1/v)
	mu += phi * phi * improvement

	// Step 8: back to the Glicko scale.
	return Rating{
		Rating:     glicko2Scale*mu + DefaultRating,
		RD:         math.Min(glicko2Scale*phi, MaxRD),
		Volatility: sigma,
	}
}

// Game returns the ratings of a and b after one game between them, with
// scoreA a's score (1, 0.5 or 0) and b's 1 − scoreA, the game being one
// rating period for each.
func (g Glicko2) Game(a, b Rating, scoreA float64) (Rating, Rating) {
	return g.Update(a, []Result{{Opponent: b, Score: scoreA}}),
		g.Update(b, []Result{{Opponent: a, Score: 1 - scoreA}})
}

// g2 is the paper's g(φ), which weighs a result by the opponent's
// deviation φ.
func g2(phi float64) float64 {
	return 1 / math.Sqrt(1+3*phi*phi/(math.Pi*math.Pi))
}

// expectedScore is the paper's E(μ, μj, φj), with gj = g(φj).
func expectedScore(mu, muJ, gj float64) float64 {
	return 1 / (1 + math.Exp(-gj*(mu-muJ)))
}

// newVolatility is step 5: the σ' that solves f(x) = 0 for x = ln(σ'²),
// found with the Illinois algorithm exactly as in the paper.
func newVolatility(phi, sigma, v, delta, tau float64) float64 {
	a := math.Log(sigma * sigma)
	delta2, phi2 := delta*delta, phi*phi
	f := func(x float64) float64 {
		ex := math.Exp(x)
		d := phi2 + v + ex
		return ex*(delta2-phi2-v-ex)/(2*d*d) - (x-a)/(tau*tau)
	}

	// Initial bracket [A, B] around the root.
	A := a
	var B float64
	if delta2 > phi2+v {
		B = math.Log(delta2 - phi2 - v)
	} else {
		k := 1.0
		for f(a-k*tau) < 0 && k < maxIterations {
			k++
		}
		B = a - k*tau
	}

	fA, fB := f(A), f(B)
	for i := 0; math.Abs(B-A) > convergence && i < maxIterations; i++ {
		C := A + (A-B)*fA/(fB-fA)
		fC := f(C)
		if fC*fB <= 0 {
			A, fA = B, fB
		} else {
			fA /= 2
		}
		B, fB = C, fC
	}
	s := math.Exp(A / 2)
	if math.IsNaN(s) {
		return sigma // the iteration broke down on absurd input: keep σ
	}
	return min(max(s, minVolatility), maxVolatility)
}
