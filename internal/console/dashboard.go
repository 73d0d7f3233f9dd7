package console

import (
	"html/template"
	"net/http"

	"github.com/signet-auth/signet/internal/svgplot"
)

// dashboard shows the node's recent activity as small plots drawn on the server from the
// metrics Prometheus scrapes: sign-ins by outcome, transactions approved and denied,
// connected and enrolled devices, push failures.
func (c *Console) dashboard(q *req) error {
	type plot struct {
		Title string
		SVG   template.HTML
	}
	var plots []plot
	if c.cfg.Plots != nil {
		for _, p := range c.cfg.Plots() {
			svg, err := svgplot.Render(p, svgplot.Options{})
			if err != nil {
				return err
			}
			plots = append(plots, plot{p.Title, svg})
		}
	}
	return q.show(http.StatusOK, "dashboard", "Dashboard", "dashboard", plots)
}
