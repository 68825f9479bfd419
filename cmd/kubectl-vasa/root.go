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
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
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

	kubeconfig, context, namespace string
}

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
	f := root.PersistentFlags()
	f.StringVar(&a.kubeconfig, "kubeconfig", "", "path to the kubeconfig file")
	f.StringVar(&a.context, "context", "", "kubeconfig context to use")
	f.StringVarP(&a.namespace, "namespace", "n", "", "namespace (default: the context's namespace)")
	root.AddCommand(a.groupsCommand(), a.statusCommand(), a.syncCommand(), a.doctorCommand())
	return root
}

// client returns a client of the cluster and the namespace to work in.
func (a *app) client() (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = a.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: a.context})
	ns := a.namespace
	cfg := a.restConfig
	if cfg == nil {
		var err error
		if cfg, err = cc.ClientConfig(); err != nil {
			return nil, "", fmt.Errorf("loading the kubeconfig: %w (set --kubeconfig or KUBECONFIG, or pick one with --context)", err)
		}
	}
	if ns == "" {
		if a.restConfig != nil {
			ns = "default"
		} else if n, _, err := cc.Namespace(); err == nil {
			ns = n
		} else {
			ns = "default"
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
