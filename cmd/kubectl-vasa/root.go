package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// scheme knows the kinds the plugin reads and writes.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(replicationv1alpha1.AddToScheme(s))
	return s
}()

// app holds what every command needs; tests set the fields that main takes from the process.
type app struct {
	out, errOut io.Writer
	// live redraws one progress line in place (stdout is a terminal); otherwise each change is a new line.
	live bool
	// now is the clock; nil means time.Now.
	now func() time.Time
	// restConfig overrides the kubeconfig (tests); nil means load it from the flags.
	restConfig *rest.Config
	// pollInterval is how often --wait reads the ReplicationSync; 0 means a second.
	pollInterval time.Duration

	// flags are kubectl's own: --kubeconfig, --context, -n, --request-timeout, --as, --server, ...
	flags *genericclioptions.ConfigFlags
}

// defaultRequestTimeout bounds each request to the API server unless --request-timeout says otherwise:
// on a slow or half-reachable API server during an outage, a command says so instead of hanging.
const defaultRequestTimeout = "30s"

func (a *app) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "kubectl-vasa",
		Short:         "Replication groups, syncs and providers of the vasa-sync-operator",
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl vasa"},
	}
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	a.flags = genericclioptions.NewConfigFlags(true)
	*a.flags.Timeout = defaultRequestTimeout
	a.flags.AddFlags(root.PersistentFlags())
	root.AddCommand(a.groupsCommand(), a.statusCommand(), a.syncCommand(), a.doctorCommand())
	return root
}

// client returns a client of the cluster and the namespace to work in.
func (a *app) client() (client.Client, string, error) {
	ns, _, err := a.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil || a.restConfig != nil && *a.flags.Namespace == "" {
		ns = "default"
	}
	cfg := a.restConfig
	if cfg == nil {
		if cfg, err = a.flags.ToRESTConfig(); err != nil {
			return nil, "", fmt.Errorf("loading the kubeconfig: %w (set --kubeconfig or KUBECONFIG, or pick one with --context)", err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the cluster: %w", err)
	}
	return c, ns, nil
}

// explain turns API errors into what the user should do.
func explain(err error) error {
	var nm *meta.NoKindMatchError
	if errors.As(err, &nm) || meta.IsNoMatchError(err) || strings.Contains(err.Error(), "the server could not find the requested resource") {
		return fmt.Errorf("%w\nthe vasa-sync-operator CRDs are not installed in this cluster: install the operator (kubectl apply --server-side -k config/default, or its Helm chart)", err)
	}
	return err
}

func (a *app) printError(err error) {
	_, _ = fmt.Fprintf(a.errOut, "error: %v\n", explain(err))
}
