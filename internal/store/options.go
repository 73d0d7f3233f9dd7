package store

import "time"

// Options holds the settings every back end accepts when it is opened.
type Options struct {
	// Now is the clock that stamps CreatedAt, UpdatedAt and migration times.
	Now func() time.Time
}

// Option sets one of the Options.
type Option func(*Options)

// WithClock replaces time.Now as the store clock; tests use it to fix timestamps.
func WithClock(now func() time.Time) Option {
	return func(o *Options) { o.Now = now }
}

// NewOptions applies opts over the defaults. Back ends call it in their Open.
func NewOptions(opts ...Option) Options {
	o := Options{Now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
