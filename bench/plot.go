package bench

import (
	"errors"
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WritePlot writes a PNG (or SVG/PDF, by the file's extension) of the latency over time: p50, p90,
// p99 and max of each timeline interval.
func (r *Result) WritePlot(path string) error {
	if len(r.Timeline) == 0 {
		return errors.New("bench: plot: the run has no timeline")
	}
	series := func(f func(Interval) float64) plotter.XYs {
		xy := make(plotter.XYs, len(r.Timeline))
		for i, iv := range r.Timeline {
			xy[i].X, xy[i].Y = iv.At, f(iv)
		}
		return xy
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s %s: latency over time", r.Target, r.Workload)
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = "latency (ms)"
	p.X.Min, p.Y.Min = 0, 0
	p.Legend.Top, p.Legend.Left = true, true
	err := plotutil.AddLinePoints(p,
		"p50", series(func(iv Interval) float64 { return iv.P50 }),
		"p90", series(func(iv Interval) float64 { return iv.P90 }),
		"p99", series(func(iv Interval) float64 { return iv.P99 }),
		"max", series(func(iv Interval) float64 { return iv.Max }))
	if err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	if err := p.Save(10*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	return nil
}
