package main

import (
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
)

// TestSyncChecksFlagsBeforeKubeconfig: with a kubeconfig that cannot be loaded, a flag mistake is still
// reported as such; only flags that are right reach the kubeconfig.
func TestSyncChecksFlagsBeforeKubeconfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-kubeconfig")
	tests := map[string]struct {
		args []string
		want string
	}{
		"no provider":                           {[]string{"--group", "fd-1/dg-1"}, "--provider is required"},
		"neither":                               {[]string{"--provider", "array-a"}, "give the groups with --group FAULT_DOMAIN/DEVICE_GROUP, --rg REPLICATION_GROUP or -l SELECTOR"},
		"both":                                  {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "-l", "x=y"}, "ids or a selector, not both"},
		"bad group":                             {[]string{"--provider", "array-a", "--group", "dg-1"}, `--group "dg-1": write FAULT_DOMAIN/DEVICE_GROUP`},
		"group id with a space after the slash": {[]string{"--provider", "array-a", "--group", "fd-1/ dg-1"}, `--group "fd-1/ dg-1": the ids must not start or end with white space`},
		"group id with a line break":            {[]string{"--provider", "array-a", "--group", "fd-1/dg-1\n"}, `--group "fd-1/dg-1\n": the ids must not start or end with white space`},
		"pit name with a trailing space":        {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--pit-name", "manual "}, `--pit-name "manual ": a PiT name must not start or end with white space`},
		"timeout without wait":                  {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--timeout", "1m"}, `--timeout bounds --wait: add --wait, or drop --timeout`},
		"pit name with U+FFFF":                  {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--pit-name", "manual\uffff"}, `a PiT name must not start or end with white space or contain control characters, U+FFFE or U+FFFF`},
		"group id with U+FFFE":                  {[]string{"--provider", "array-a", "--group", "fd-1/dg\ufffe1"}, `the ids must not start or end with white space or contain control characters, U+FFFE or U+FFFF`},
		"provider not an object name":           {[]string{"--provider", "Array_A", "--group", "fd-1/dg-1"}, `--provider "Array_A" is not a VasaProvider name`},
		"bad selector":                          {[]string{"--provider", "array-a", "-l", "a in (b"}, `-l "a in (b" is not a label selector`},
		"bad name":                              {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--name", "Not_A_Name"}, `--name "Not_A_Name"`},
		"schedule and groups":                   {[]string{"--from-schedule", "weekly", "-l", "x=y"}, "--from-schedule takes provider and groups from the schedule"},
		"schedule and provider":                 {[]string{"--from-schedule", "weekly", "--provider", "array-a"}, "--from-schedule takes provider and groups from the schedule"},
		"split without a selector":              {[]string{"--provider", "array-a", "--group", "fd-1/dg-1", "--split"}, "--split shares out the groups a selector matches: use it with -l or --from-schedule"},
		"flags right":                           {[]string{"--provider", "array-a", "--group", "fd-1/dg-1"}, "loading the kubeconfig"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out := &syncBuffer{}
			a := &app{out: out, errOut: out}
			cmd := a.rootCommand()
			cmd.SetArgs(append([]string{"sync", "--kubeconfig", missing, "-n", "storage"}, tc.args...))
			NewWithT(t).Expect(cmd.Execute()).To(MatchError(ContainSubstring(tc.want)))
		})
	}
}
