// Command vasa-sim runs the SMS simulator standalone over HTTPS with a YAML configuration.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vasa-sim:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "", "address to serve HTTPS on (default: config listen, else 127.0.0.1:8989)")
	config := flag.String("config", "", "YAML configuration file (see hack/vasa-sim/sample.yaml)")
	flag.Parse()

	cfg := smssim.Config{Providers: []smssim.ProviderConfig{{
		Name:   "array-a-vp",
		Groups: []smssim.GroupConfig{{FaultDomain: "fd-1", DeviceGroup: "dg-1"}},
	}}}
	if *config != "" {
		var err error
		if cfg, err = smssim.LoadConfig(*config); err != nil {
			return err
		}
	}
	switch {
	case *listen != "":
		cfg.Listen = *listen
	case cfg.Listen == "":
		cfg.Listen = "127.0.0.1:8989"
	}
	sim, err := smssim.Start(cfg)
	if err != nil {
		return err
	}
	defer sim.Close()

	// The simulator is a test fixture: printing its credentials is what it is for.
	fmt.Printf("URL:        %s\n", sim.URL())
	fmt.Printf("Username:   %s\n", sim.Username())
	fmt.Printf("Password:   %s\n", sim.Password())
	fmt.Printf("Thumbprint: %s\n", sim.Thumbprint())
	fmt.Printf("Providers:  %v\n", sim.ProviderNames())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Println("shutting down")
	return nil
}
