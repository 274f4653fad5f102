package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	rpprof "runtime/pprof"
)

// profileOptions are serve's opt-in profiling flags.
type profileOptions struct {
	cpuProfile string // write a CPU profile of the whole run here
	memProfile string // write a heap profile here at shutdown
	debugAddr  string // serve net/http/pprof on this address
}

func profileFlags(fs *flag.FlagSet) *profileOptions {
	p := &profileOptions{}
	fs.StringVar(&p.cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the whole run to this file; off by default")
	fs.StringVar(&p.memProfile, "memprofile", "", "write a heap profile (pprof) to this file at shutdown; off by default")
	fs.StringVar(&p.debugAddr, "debug-listen", "", "serve net/http/pprof on this address (keep it on 127.0.0.1); off by default")
	return p
}

// start begins profiling as configured and returns the function that
// finishes it (writing the profiles).
func (p *profileOptions) start(stdout io.Writer, log *slog.Logger) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if p.cpuProfile != "" {
		f, err := os.Create(p.cpuProfile)
		if err != nil {
			return stop, err
		}
		if err := rpprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, err
		}
		stops = append(stops, func() {
			rpprof.StopCPUProfile()
			f.Close()
			log.Info("wrote CPU profile", "file", p.cpuProfile)
		})
	}
	if p.memProfile != "" {
		stops = append(stops, func() {
			f, err := os.Create(p.memProfile)
			if err != nil {
				log.Error("heap profile", "err", err)
				return
			}
			runtime.GC()
			if err := rpprof.WriteHeapProfile(f); err != nil {
				log.Error("heap profile", "err", err)
			}
			f.Close()
		})
	}
	if p.debugAddr != "" {
		ln, err := net.Listen("tcp", p.debugAddr)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("debug listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Handler: mux}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("debug listener", "err", err)
			}
		}()
		fmt.Fprintf(stdout, "parley: pprof on http://%s/debug/pprof/\n", ln.Addr())
		stops = append(stops, func() { srv.Close() })
	}
	return stop, nil
}
