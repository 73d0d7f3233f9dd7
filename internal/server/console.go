package server

import (
	"context"
	"net/http"
	"sync"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/console"
	"github.com/signet-auth/signet/internal/ops/history"
	"github.com/signet-auth/signet/internal/web"
)

// adminConsole mounts the admin console on the ADMIN listener's mux, beside the admin
// API it drives (in process, with each administrator's own token), and starts the
// sampler of the dashboard's plots.
func (s *Server) adminConsole(mux *http.ServeMux, adminURL string, api *admin.API) error {
	apiMux := http.NewServeMux()
	api.Routes(apiMux)
	provider := s.bearerProvider()
	hist := history.New(s.metrics.Registry, history.Options{Logger: s.log.With("component", "console")})
	c, err := console.New(console.Config{
		AdminURL: adminURL, Prefix: s.cfg.PathPrefix,
		Issuer:   func(realm string) string { return s.endpointURL(config.Public) + "/realms/" + realm },
		Provider: provider.LocalClient(), API: apiMux, Ephemeral: s.eph, CSRF: provider.CSRF(),
		Catalog: s.render.Catalog(), Dev: s.cfg.Dev, Health: s.health, Plots: hist.Plots,
		Log: s.log.With("component", "console"),
	})
	if err != nil {
		return err
	}
	c.Routes(mux)
	mux.Handle("GET "+s.cfg.PathPrefix+web.StaticPath, http.StripPrefix(s.cfg.PathPrefix, web.Static()))

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		hist.Run(ctx)
	}()
	s.add("admin console plots", func(context.Context) error {
		cancel()
		wg.Wait()
		return nil
	})
	return nil
}
