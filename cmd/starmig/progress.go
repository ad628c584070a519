package main

import (
	"log/slog"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows how far a phase is: a bar on a terminal, a log line every
// tenth otherwise, nothing with --quiet or --json.
type progress struct {
	bar   *progressbar.ProgressBar
	log   *slog.Logger
	what  string
	total int64 // -1 when unknown
	next  int64
	last  int64
}

func (o *globalOptions) progress(what string, total int64) *progress {
	p := &progress{what: what, total: total}
	switch {
	case o.interactive():
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(o.err),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	case !o.quiet && !o.json:
		p.log = o.log
	}
	return p
}

// set reports n units done.
func (p *progress) set(n int64) {
	p.last = n
	switch {
	case p.bar != nil:
		_ = p.bar.Set64(n)
	case p.log != nil && p.total > 0 && n >= p.next:
		p.log.Info(p.what, "done", n, "total", p.total)
		p.next = n + max(1, p.total/10)
	}
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
	if p.log != nil && p.total < 0 {
		p.log.Info(p.what, "rows", p.last)
	}
}
