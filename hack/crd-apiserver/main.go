// Command crd-apiserver serves CustomResourceDefinitions and their custom resources, and nothing
// else: Kubernetes' apiextensions-apiserver as a server of its own, to test CRDs (schemas, CEL
// validation rules, server-side apply, printer columns) with a current kubectl.
//
// Upstream's main (k8s.io/apiextensions-apiserver/main.go) is meant to run inside kube-apiserver:
// it reads Services and Namespaces from a core API, runs admission plugins that need one, and
// leaves discovery and OpenAPI v2 to kube-apiserver. This one needs no core API. Clients present a
// certificate signed by --client-ca-file; the group system:masters may do anything, everyone else
// nothing. CEL validation rules are part of the schema, not admission, so they run.
//
// Built by hack/current-apiserver.sh from Debian's golang-k8s-apiextensions-apiserver-dev.
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"github.com/spf13/cobra"
	noopoteltrace "go.opentelemetry.io/otel/trace/noop"

	"k8s.io/apiextensions-apiserver/pkg/apiserver"
	"k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	generatedopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/util/openapi"
	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/component-base/cli"
)

func main() {
	o := options.NewCustomResourceDefinitionsServerOptions(os.Stdout, os.Stderr)
	recommended := o.RecommendedOptions
	// Nothing may reach for a core API: no informers of it, no admission plugins (they read
	// Namespaces and webhook configurations), no priority and fairness (it reads its own objects).
	recommended.CoreAPI = nil
	recommended.Admission = nil
	recommended.Features.EnablePriorityAndFairness = false
	// Client certificates only: no TokenReview or SubjectAccessReview to delegate to.
	recommended.Authentication.RemoteKubeConfigFileOptional = true
	recommended.Authentication.SkipInClusterLookup = true
	recommended.Authorization.RemoteKubeConfigFileOptional = true

	cmd := &cobra.Command{
		Use:   "crd-apiserver",
		Short: "Serve CustomResourceDefinitions and custom resources, without a core API",
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return o.ServerRunOptions.ComponentGlobalsRegistry.Set()
		},
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return run(c.Context(), o)
		},
	}
	cmd.SetContext(genericapiserver.SetupSignalContext())
	o.AddFlags(cmd.Flags())
	os.Exit(cli.Run(cmd))
}

func run(ctx context.Context, o *options.CustomResourceDefinitionsServerOptions) error {
	serverConfig := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	// OpenAPI v2 as well as v3: kubectl explain and client-side validation read v2.
	definitions := openapi.GetOpenAPIDefinitionsWithoutDisabledFeatures(generatedopenapi.GetOpenAPIDefinitions)
	namer := openapinamer.NewDefinitionNamer(apiserver.Scheme, scheme.Scheme)
	serverConfig.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(definitions, namer)
	serverConfig.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(definitions, namer)
	if err := o.ServerRunOptions.ApplyTo(&serverConfig.Config); err != nil {
		return err
	}
	if err := o.RecommendedOptions.ApplyTo(serverConfig); err != nil {
		return err
	}
	if err := o.APIEnablement.ApplyTo(&serverConfig.Config, apiserver.DefaultAPIResourceConfigSource(), apiserver.Scheme); err != nil {
		return err
	}
	recommended := o.RecommendedOptions
	config := &apiserver.Config{
		GenericConfig: serverConfig,
		ExtraConfig: apiserver.ExtraConfig{
			CRDRESTOptionsGetter: options.NewCRDRESTOptionsGetter(*recommended.Etcd, serverConfig.ResourceTransformers, serverConfig.StorageObjectCountTracker),
			ServiceResolver:      noServices{},
			AuthResolverWrapper:  webhook.NewDefaultAuthenticationInfoResolverWrapper(nil, nil, serverConfig.LoopbackClientConfig, noopoteltrace.NewTracerProvider()),
		},
	}
	completed := config.Complete()
	// Upstream turns discovery off because kube-apiserver serves it; here nobody else would.
	completed.GenericConfig.EnableDiscovery = true
	server, err := completed.New(genericapiserver.NewEmptyDelegate())
	if err != nil {
		return err
	}
	return server.GenericAPIServer.PrepareRun().RunWithContext(ctx)
}

// noServices answers conversion webhooks' look-ups of a Service: there are no Services here.
type noServices struct{}

func (noServices) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	return nil, fmt.Errorf("cannot resolve service %s/%s:%d: this server has no core API", namespace, name, port)
}
