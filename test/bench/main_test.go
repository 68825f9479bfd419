package bench

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/testenv"
)

var (
	// env is shared by every test and benchmark of the package.
	env *Env

	resultsMu sync.Mutex
	// results are the benchmark rows, printed as a table when the run ends.
	results []Result
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	code := testenv.Run(m, func(te *envtest.Environment, cfg *rest.Config) error {
		var err error
		env, err = NewEnv(te, cfg, strings.Fields(os.Getenv("BENCH_MANAGER_ARGS")))
		return err
	})
	if env != nil {
		env.Close()
	}
	if len(results) > 0 {
		fmt.Println()
		WriteTable(os.Stdout, results)
	}
	os.Exit(code)
}

// record keeps a benchmark row for the table.
func record(r Result) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results = append(results, r)
}
