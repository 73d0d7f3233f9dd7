package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// profileFlags are serve's hidden profiling flags, used by `bench token --profile`: a CPU
// profile of the whole run and the allocation profile written at exit.
type profileFlags struct {
	cpu, allocs string
}

func (p *profileFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&p.cpu, "cpuprofile", "", "write a CPU profile of the run to this file")
	c.Flags().StringVar(&p.allocs, "allocprofile", "", "write the allocation profile to this file at exit")
	_ = c.Flags().MarkHidden("cpuprofile")
	_ = c.Flags().MarkHidden("allocprofile")
}

// start begins the CPU profile; the returned function stops it and writes the
// allocation profile.
func (p *profileFlags) start() (stop func() error, err error) {
	var cpu *os.File
	if p.cpu != "" {
		if cpu, err = os.Create(p.cpu); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		if p.allocs != "" {
			errs = append(errs, writeProfile("allocs", p.allocs))
		}
		return errors.Join(errs...)
	}, nil
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("%s profile: %w", name, err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("%s profile: %w", name, err)
	}
	return f.Close()
}
