package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// ParseURL turns a connection URL into client options without touching the network.
//
//	redis://[user:pass@]host[:port][/db][?go-redis options]     one server
//	rediss://...                                                  the same over TLS
//	redis+sentinel://[user:pass@]host[:port],host[:port]/<master>[?db=N]
//	redis+cluster://[user:pass@]host[:port],host[:port]
//
// rediss+sentinel:// and rediss+cluster:// are the TLS forms. For Sentinel the user
// information authenticates to the data nodes; sentinel_username and sentinel_password
// query parameters authenticate to the sentinels when they require it. Errors never
// repeat the URL, which may hold a password.
func ParseURL(raw string) (*goredis.UniversalOptions, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("redis url: missing scheme")
	}
	switch scheme {
	case "redis", "rediss":
		return parseSingle(raw)
	case "redis+sentinel", "rediss+sentinel":
		return parseSentinel(rest, scheme == "rediss+sentinel")
	case "redis+cluster", "rediss+cluster":
		return parseCluster(rest, scheme == "rediss+cluster")
	default:
		return nil, fmt.Errorf("redis url: unsupported scheme %q (want redis, rediss, redis+sentinel or redis+cluster)", scheme)
	}
}

func parseSingle(raw string) (*goredis.UniversalOptions, error) {
	o, err := goredis.ParseURL(raw)
	if err != nil {
		// url.Error repeats the whole URL, password included.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("redis url: %w", err)
	}
	return &goredis.UniversalOptions{
		Addrs:                 []string{o.Addr},
		ClientName:            o.ClientName,
		DB:                    o.DB,
		Protocol:              o.Protocol,
		Username:              o.Username,
		Password:              o.Password,
		MaxRetries:            o.MaxRetries,
		MinRetryBackoff:       o.MinRetryBackoff,
		MaxRetryBackoff:       o.MaxRetryBackoff,
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		PoolFIFO:              o.PoolFIFO,
		PoolSize:              o.PoolSize,
		MaxConcurrentDials:    o.MaxConcurrentDials,
		PoolTimeout:           o.PoolTimeout,
		MinIdleConns:          o.MinIdleConns,
		MaxIdleConns:          o.MaxIdleConns,
		MaxActiveConns:        o.MaxActiveConns,
		ConnMaxIdleTime:       o.ConnMaxIdleTime,
		ConnMaxLifetime:       o.ConnMaxLifetime,
		ConnMaxLifetimeJitter: o.ConnMaxLifetimeJitter,
		TLSConfig:             tls13(o.TLSConfig),
	}, nil
}

// tls13 raises an outbound TLS configuration to TLS 1.3 only, like every Signet listener.
func tls13(c *tls.Config) *tls.Config {
	if c == nil {
		return nil
	}
	c = c.Clone()
	c.MinVersion = tls.VersionTLS13
	return c
}

func parseSentinel(rest string, useTLS bool) (*goredis.UniversalOptions, error) {
	u, err := parseMultiHost(rest, "26379")
	if err != nil {
		return nil, err
	}
	if u.path == "" || strings.Contains(u.path, "/") {
		return nil, errors.New("redis url: sentinel URL needs the master name as its path, as in redis+sentinel://host:26379/mymaster")
	}
	o := &goredis.UniversalOptions{
		Addrs:            u.addrs,
		MasterName:       u.path,
		Username:         u.user,
		Password:         u.password,
		SentinelUsername: u.query.Get("sentinel_username"),
		SentinelPassword: u.query.Get("sentinel_password"),
		TLSConfig:        tlsConfig(useTLS),
	}
	if db := u.query.Get("db"); db != "" {
		if o.DB, err = strconv.Atoi(db); err != nil || o.DB < 0 {
			return nil, fmt.Errorf("redis url: invalid database number %q", db)
		}
	}
	if err := onlyParams(u.query, "db", "sentinel_username", "sentinel_password"); err != nil {
		return nil, err
	}
	return o, nil
}

func parseCluster(rest string, useTLS bool) (*goredis.UniversalOptions, error) {
	u, err := parseMultiHost(rest, "6379")
	if err != nil {
		return nil, err
	}
	if u.path != "" {
		return nil, errors.New("redis url: a cluster URL has no path: Redis Cluster has only database 0")
	}
	if err := onlyParams(u.query); err != nil {
		return nil, err
	}
	return &goredis.UniversalOptions{
		Addrs:         u.addrs,
		IsClusterMode: true,
		Username:      u.user,
		Password:      u.password,
		TLSConfig:     tlsConfig(useTLS),
	}, nil
}

// tlsConfig leaves ServerName empty: crypto/tls takes it from each address dialled, and
// these URLs name several hosts.
func tlsConfig(useTLS bool) *tls.Config {
	if !useTLS {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS13}
}

func onlyParams(q url.Values, allowed ...string) error {
	for name := range q {
		if !slices.Contains(allowed, name) {
			return fmt.Errorf("redis url: unknown parameter %q", name)
		}
	}
	return nil
}

// multiHost is a URL whose authority lists several host:port pairs, which net/url does
// not parse.
type multiHost struct {
	user, password string
	addrs          []string
	path           string
	query          url.Values
}

// parseMultiHost parses what follows "scheme://".
func parseMultiHost(rest, defaultPort string) (multiHost, error) {
	var u multiHost
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		var err error
		if u.user, u.password, err = parseUserinfo(authority[:i]); err != nil {
			return u, err
		}
		authority = authority[i+1:]
	}
	for _, h := range strings.Split(authority, ",") {
		addr, err := hostPort(h, defaultPort)
		if err != nil {
			return u, err
		}
		u.addrs = append(u.addrs, addr)
	}
	if strings.Contains(tail, "#") {
		return u, errors.New("redis url: unexpected fragment")
	}
	path, rawQuery, _ := strings.Cut(tail, "?")
	path, err := url.PathUnescape(strings.Trim(path, "/"))
	if err != nil {
		return u, errors.New("redis url: invalid escape in path")
	}
	u.path = path
	if u.query, err = url.ParseQuery(rawQuery); err != nil {
		return u, errors.New("redis url: invalid query")
	}
	return u, nil
}

func parseUserinfo(info string) (user, password string, err error) {
	rawUser, rawPassword, _ := strings.Cut(info, ":")
	if user, err = url.PathUnescape(rawUser); err != nil {
		return "", "", errors.New("redis url: invalid escape in user name")
	}
	if password, err = url.PathUnescape(rawPassword); err != nil {
		return "", "", errors.New("redis url: invalid escape in password")
	}
	return user, password, nil
}

func hostPort(h, defaultPort string) (string, error) {
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: a name, an IPv4 address or a bracketed IPv6 address.
		host, port = h, defaultPort
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			host = h[1 : len(h)-1]
		} else if strings.Contains(h, ":") {
			return "", fmt.Errorf("redis url: invalid host %q", h)
		}
	}
	if host == "" || strings.ContainsAny(host, "[]/@ ") {
		return "", fmt.Errorf("redis url: invalid host %q", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("redis url: invalid port in %q", h)
	}
	return net.JoinHostPort(host, port), nil
}
