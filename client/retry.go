package client

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// BackoffPolicy is the `policy` field of a Dapr retry policy.
type BackoffPolicy string

const (
	// Constant waits Duration between attempts.
	Constant BackoffPolicy = "constant"
	// Exponential waits InitialInterval, growing by Multiplier with RandomizationFactor
	// jitter, capped at MaxInterval.
	Exponential BackoffPolicy = "exponential"
)

// RetryPolicy is a Dapr retry policy (spec.policies.retries.<name>). Build one from
// DefaultRetryPolicy: the zero value means "no retries, no wait", not Dapr's defaults.
type RetryPolicy struct {
	// Policy is constant or exponential.
	Policy BackoffPolicy
	// Duration is the wait between attempts of the constant policy.
	Duration time.Duration
	// MaxInterval caps the exponential wait.
	MaxInterval time.Duration
	// MaxRetries is the number of retries after the first attempt; -1 retries forever.
	MaxRetries int
	// Matching restricts the retried errors by status code.
	Matching RetryMatching
	// InitialInterval, Multiplier and RandomizationFactor shape the exponential policy.
	// Dapr's resource has no fields for them and uses 500 ms, 1.5 and 0.5.
	InitialInterval     time.Duration
	Multiplier          float64
	RandomizationFactor float64
	// MaxElapsedTime stops exponential retries once this much time has passed since the
	// first attempt, whatever MaxRetries says; zero means never. Dapr's value is 15 min.
	MaxElapsedTime time.Duration
}

// RetryMatching is Dapr's `matching` block: an allowlist of status codes to retry.
type RetryMatching struct {
	// HTTPStatusCodes lists the codes worth a retry; empty means every retryable error.
	// Errors without a status (connection failures, timeouts) are retried either way.
	HTTPStatusCodes []StatusRange
}

// StatusRange is an inclusive range of status codes; a single code has From == To.
type StatusRange struct {
	From, To int
}

// DefaultRetryPolicy returns Dapr's defaults: constant, 5 s, maxInterval 60 s, retry
// forever, exponential 500 ms x 1.5 with 0.5 jitter for at most 15 min.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		Policy:              Constant,
		Duration:            5 * time.Second,
		MaxInterval:         60 * time.Second,
		MaxRetries:          -1,
		InitialInterval:     500 * time.Millisecond,
		Multiplier:          1.5,
		RandomizationFactor: 0.5,
		MaxElapsedTime:      15 * time.Minute,
	}
}

// Validate checks the policy's fields.
func (p RetryPolicy) Validate() error {
	switch p.Policy {
	case Constant:
		if p.Duration < 0 {
			return fmt.Errorf("client: retry duration %v is negative", p.Duration)
		}
	case Exponential:
		if p.InitialInterval <= 0 || p.MaxInterval <= 0 {
			return errors.New("client: exponential retry needs a positive initial and max interval")
		}
		if p.Multiplier < 1 || p.RandomizationFactor < 0 || p.RandomizationFactor > 1 {
			return errors.New("client: exponential retry needs multiplier >= 1 and randomization in [0, 1]")
		}
		if p.MaxElapsedTime < 0 {
			return errors.New("client: negative maxElapsedTime")
		}
	default:
		return fmt.Errorf("client: retry policy %q: want constant or exponential", p.Policy)
	}
	if p.MaxRetries < -1 {
		return fmt.Errorf("client: maxRetries %d: want -1 (forever) or more", p.MaxRetries)
	}
	for _, r := range p.Matching.HTTPStatusCodes {
		if r.From < 100 || r.To > 599 || r.From > r.To {
			return fmt.Errorf("client: status range %d-%d: want 100 <= from <= to <= 599", r.From, r.To)
		}
	}
	return nil
}

// matches reports whether status is in the allowlist (any status when it is empty).
func (m RetryMatching) matches(status int) bool {
	if len(m.HTTPStatusCodes) == 0 {
		return true
	}
	for _, r := range m.HTTPStatusCodes {
		if r.From <= status && status <= r.To {
			return true
		}
	}
	return false
}

// ParseStatusCodes parses Dapr's matching syntax, e.g. "429,500-599", checking that every
// code lies in [lo, hi] (HTTP: 100-599, gRPC: 0-16). Empty items are ignored.
func ParseStatusCodes(s string, lo, hi int) ([]StatusRange, error) {
	var out []StatusRange
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		bounds := strings.Split(item, "-")
		if len(bounds) > 2 {
			return nil, fmt.Errorf("client: status pattern %q: more than one '-'", item)
		}
		var r StatusRange
		var err error
		if r.From, err = strconv.Atoi(strings.TrimSpace(bounds[0])); err != nil {
			return nil, fmt.Errorf("client: status pattern %q: %w", item, err)
		}
		r.To = r.From
		if len(bounds) == 2 {
			if r.To, err = strconv.Atoi(strings.TrimSpace(bounds[1])); err != nil {
				return nil, fmt.Errorf("client: status pattern %q: %w", item, err)
			}
		}
		if r.From < lo || r.To > hi || r.From > r.To {
			return nil, fmt.Errorf("client: status pattern %q: want %d <= start <= end <= %d", item, lo, hi)
		}
		out = append(out, r)
	}
	return out, nil
}

// backoff produces the waits of one call's retries (one per call: it holds state).
type backoff struct {
	p       RetryPolicy
	rand    func() float64
	start   time.Time
	current time.Duration
	retries int
}

func newBackoff(p RetryPolicy, start time.Time, rand func() float64) *backoff {
	return &backoff{p: p, rand: rand, start: start, current: p.InitialInterval}
}

// next returns the wait before the next retry, or false when the policy allows no more.
// The exponential policy follows cenkalti/backoff (which Dapr uses): a random value in
// [current*(1-f), current*(1+f)], then current grows by Multiplier up to MaxInterval; the
// wait itself is capped at MaxInterval, as Dapr's documentation states.
func (b *backoff) next(now time.Time) (time.Duration, bool) {
	if b.p.MaxRetries >= 0 && b.retries >= b.p.MaxRetries {
		return 0, false
	}
	b.retries++
	if b.p.Policy == Constant {
		return b.p.Duration, true
	}
	cur := float64(b.current)
	delta := b.p.RandomizationFactor * cur
	lo, hi := cur-delta, cur+delta
	wait := time.Duration(lo + b.rand()*(hi-lo+1))
	if float64(b.current) >= float64(b.p.MaxInterval)/b.p.Multiplier {
		b.current = b.p.MaxInterval
	} else {
		b.current = time.Duration(cur * b.p.Multiplier)
	}
	if b.p.MaxElapsedTime > 0 && now.Sub(b.start)+wait > b.p.MaxElapsedTime {
		return 0, false
	}
	return min(wait, b.p.MaxInterval), true
}
