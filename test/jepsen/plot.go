package jepsen

import (
	"fmt"
	"image/color"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot file names in the results folder.
const (
	latencyPlot = "latency.png"
	ratePlot    = "rate.png"
)

var outcomeColors = map[OpType]color.Color{
	OK:   color.RGBA{R: 0x2e, G: 0x9e, B: 0x4f, A: 0xff},
	Fail: color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	Info: color.RGBA{R: 0xff, G: 0x9f, B: 0x1c, A: 0xff},
}

// faultColor is a translucent fill per fault kind.
func faultColor(k FaultKind) color.Color {
	switch {
	case k.isPartition():
		return color.NRGBA{R: 0xf5, G: 0x8b, B: 0x2a, A: 0x40}
	case k == FaultLoss:
		return color.NRGBA{R: 0xe6, G: 0xc2, B: 0x00, A: 0x40}
	case k == FaultKill:
		return color.NRGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0x40}
	case k == FaultPause:
		return color.NRGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0x40}
	case k == FaultRestart:
		return color.NRGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0x40}
	}
	return color.NRGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0x40}
}

// faultCategory groups the partition shapes (they share a colour) for the legend.
func faultCategory(k FaultKind) string {
	if k.isPartition() {
		return "partition"
	}
	return string(k)
}

// writePlots writes latency.png (every client op: latency against invocation time, by outcome)
// and rate.png (ok operations per second per workload, plus fail and info) with the fault
// windows shaded. It returns the file names written.
func writePlots(dir string, h []Op, faults []faultWindow) ([]string, error) {
	var ops []Op
	for _, op := range h {
		if op.Process >= 0 && op.Complete > op.Invoke {
			ops = append(ops, op)
		}
	}
	lp, err := latencyPlotOf(ops, faults)
	if err != nil {
		return nil, err
	}
	if err := lp.Save(10*vg.Inch, 5*vg.Inch, filepath.Join(dir, latencyPlot)); err != nil {
		return nil, fmt.Errorf("jepsen: save %s: %w", latencyPlot, err)
	}
	rp, err := ratePlotOf(ops, faults)
	if err != nil {
		return nil, err
	}
	if err := rp.Save(10*vg.Inch, 5*vg.Inch, filepath.Join(dir, ratePlot)); err != nil {
		return nil, fmt.Errorf("jepsen: save %s: %w", ratePlot, err)
	}
	return []string{latencyPlot, ratePlot}, nil
}

func seconds(ns int64) float64 { return time.Duration(ns).Seconds() }

func latencyPlotOf(ops []Op, faults []faultWindow) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Latency by outcome (shaded: faults)"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "latency (ms)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	pts := map[OpType]plotter.XYs{}
	lo, hi := math.Inf(1), math.Inf(-1)
	xmax := 1.0
	for _, op := range ops {
		ms := float64(op.Latency()) / float64(time.Millisecond)
		pts[op.Type] = append(pts[op.Type], plotter.XY{X: seconds(op.Invoke), Y: ms})
		lo, hi = math.Min(lo, ms), math.Max(hi, ms)
		xmax = math.Max(xmax, seconds(op.Complete))
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0.1, 1000
	}
	lo, hi = lo/1.5, hi*6 // headroom for the legend
	p.Y.Min, p.Y.Max = lo, hi
	if err := shadeFaults(p, faults, lo, hi); err != nil {
		return nil, err
	}
	for _, t := range []OpType{OK, Info, Fail} {
		if len(pts[t]) == 0 {
			continue
		}
		s, err := plotter.NewScatter(pts[t])
		if err != nil {
			return nil, fmt.Errorf("jepsen: plot: %w", err)
		}
		s.GlyphStyle.Color = outcomeColors[t]
		s.GlyphStyle.Radius = vg.Points(1.2)
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(s)
		p.Legend.Add(string(t), s)
	}
	p.X.Min, p.X.Max = 0, xmax
	return p, nil
}

func ratePlotOf(ops []Op, faults []faultWindow) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Throughput (shaded: faults)"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "operations / s"
	p.Legend.Top = true
	buckets := 1
	for _, op := range ops {
		buckets = max(buckets, int(seconds(op.Complete))+1)
	}
	series := map[string][]float64{}
	add := func(name string, sec int) {
		if series[name] == nil {
			series[name] = make([]float64, buckets)
		}
		series[name][sec]++
	}
	for _, op := range ops {
		sec := int(seconds(op.Complete))
		if op.Type == OK {
			add(op.Workload+" ok", sec)
		} else {
			add("all "+string(op.Type), sec)
		}
	}
	hi := 1.0
	for _, s := range series {
		hi = math.Max(hi, slices.Max(s))
	}
	hi *= 1.4 // headroom for the legend
	p.Y.Min, p.Y.Max = 0, hi
	if err := shadeFaults(p, faults, 0, hi); err != nil {
		return nil, err
	}
	palette := []color.Color{
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
		color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
		color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}, color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	}
	names := slices.Sorted(maps.Keys(series))
	for i, name := range names {
		xys := make(plotter.XYs, buckets)
		for s, v := range series[name] {
			xys[s] = plotter.XY{X: float64(s) + 0.5, Y: v}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("jepsen: plot: %w", err)
		}
		switch name {
		case "all fail":
			l.Color = outcomeColors[Fail]
		case "all info":
			l.Color = outcomeColors[Info]
		default:
			l.Color = palette[i%len(palette)]
		}
		l.Width = vg.Points(1.2)
		p.Add(l)
		p.Legend.Add(name, l)
	}
	p.X.Min, p.X.Max = 0, float64(buckets)
	return p, nil
}

// shadeFaults adds one translucent rectangle per fault window between y0 and y1, and one legend
// entry per fault category.
func shadeFaults(p *plot.Plot, faults []faultWindow, y0, y1 float64) error {
	seen := map[string]bool{}
	for _, f := range faults {
		x0, x1 := seconds(f.Start), seconds(max(f.End, f.Start+int64(100*time.Millisecond)))
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
		if err != nil {
			return fmt.Errorf("jepsen: plot: %w", err)
		}
		poly.Color = faultColor(f.Kind)
		poly.LineStyle.Width = 0
		p.Add(poly)
		if c := faultCategory(f.Kind); !seen[c] {
			seen[c] = true
			p.Legend.Add(c, poly)
		}
	}
	return nil
}
