// Package helm tests the chart in tasktail/ offline, with Helm as a library: `helm lint`,
// `helm template` of each mode decoded strictly into the Kubernetes API types (a field
// the API does not have fails), and what an operator relies on: probes on the admin port,
// the journal's volume, the grace period, the security context, the network policy. It is
// a module of its own, so that Helm and the Kubernetes API stay out of tasktail's.
package helm

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "tasktail"

// Values of each mode as an operator gives them.
func singleValues() map[string]any {
	return map[string]any{
		"auth": map[string]any{"publishKeys": "pk-0123456789abcdef", "tokenSecret": strings.Repeat("s", 32)},
	}
}

func clusterValues() map[string]any {
	return map[string]any{
		"mode":     "cluster",
		"auth":     map[string]any{"existingSecret": "tasktail-credentials"},
		"cluster":  map[string]any{"etcdEndpoints": []any{"http://etcd.infra:2379"}},
		"replicas": 3,
	}
}

func TestChartLints(t *testing.T) {
	for name, vals := range map[string]map[string]any{"single": singleValues(), "cluster": clusterValues()} {
		linter := lint.RunAll(chartDir, vals, "tasks")
		for _, m := range linter.Messages {
			t.Logf("%s: %s", name, m)
			if m.Severity >= support.WarningSev { // helm lint --strict
				t.Errorf("helm lint --strict (%s): %s", name, m)
			}
		}
	}
}

// rendered are the objects of one `helm template`, by kind, each decoded strictly.
type rendered struct {
	statefulSets []appsv1.StatefulSet
	deployments  []appsv1.Deployment
	services     []corev1.Service
	secrets      []corev1.Secret
	accounts     []corev1.ServiceAccount
	pdbs         []policyv1.PodDisruptionBudget
	policies     []networkingv1.NetworkPolicy
	monitors     []serviceMonitor
}

// serviceMonitor is the Prometheus Operator's kind, as far as the chart fills it.
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// template renders the chart as `helm template` does, with no cluster: the values
// coalesced with the chart's and checked against values.schema.json, then every template
// but the partials and NOTES.txt. (Helm's engine, not its install action: the action
// would double what this module compiles.)
func template(vals map[string]any) (string, error) {
	chart, err := loader.Load(chartDir)
	if err != nil {
		return "", err
	}
	opts := common.ReleaseOptions{Name: "tt", Namespace: "tasks", Revision: 1, IsInstall: true}
	values, err := util.ToRenderValuesWithSchemaValidation(chart, vals, opts, common.DefaultCapabilities, false)
	if err != nil {
		return "", err
	}
	files, err := engine.Render(chart, values)
	if err != nil {
		return "", err
	}
	names := slices.Sorted(maps.Keys(files))
	var manifest strings.Builder
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		manifest.WriteString("---\n# Source: " + name + "\n" + files[name] + "\n")
	}
	return manifest.String(), nil
}

func render(t *testing.T, vals map[string]any) rendered {
	t.Helper()
	manifest, err := template(vals)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	var r rendered
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(manifest, -1) {
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		var err error
		switch head.APIVersion + " " + head.Kind {
		case " ":
			continue // a document of comments only
		case "apps/v1 StatefulSet":
			r.statefulSets, err = appendStrict(r.statefulSets, doc)
		case "apps/v1 Deployment":
			r.deployments, err = appendStrict(r.deployments, doc)
		case "v1 Service":
			r.services, err = appendStrict(r.services, doc)
		case "v1 Secret":
			r.secrets, err = appendStrict(r.secrets, doc)
		case "v1 ServiceAccount":
			r.accounts, err = appendStrict(r.accounts, doc)
		case "policy/v1 PodDisruptionBudget":
			r.pdbs, err = appendStrict(r.pdbs, doc)
		case "networking.k8s.io/v1 NetworkPolicy":
			r.policies, err = appendStrict(r.policies, doc)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.monitors, err = appendStrict(r.monitors, doc)
		default:
			t.Fatalf("a kind the test does not know: %s %s", head.APIVersion, head.Kind)
		}
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", head.APIVersion, head.Kind, err, doc)
		}
	}
	return r
}

// appendStrict decodes doc into a new T, refusing any field T does not have.
func appendStrict[T any](list []T, doc string) ([]T, error) {
	var v T
	if err := yaml.UnmarshalStrict([]byte(doc), &v); err != nil {
		return list, err
	}
	return append(list, v), nil
}

func env(c corev1.Container, name string) *corev1.EnvVar {
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		return nil
	}
	return &c.Env[i]
}

func port(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// checkPod holds what both modes share: probes on --admin-addr, a grace period above
// --shutdown-timeout, a locked-down security context, credentials from the Secret, and
// only settings tasktail has.
func checkPod(t *testing.T, pod corev1.PodTemplateSpec, secret string) corev1.Container {
	t.Helper()
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("containers: %d", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	admin := port(c, "admin")
	if a := env(c, "TASKTAIL_ADMIN_ADDR"); admin == 0 || a == nil || a.Value != "0.0.0.0:"+strconv.Itoa(int(admin)) {
		t.Errorf("admin port %d, TASKTAIL_ADMIN_ADDR %+v", admin, a)
	}
	for what, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		want := map[string]string{"liveness": "/healthz", "readiness": "/readyz", "startup": "/healthz"}[what]
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "admin" || p.HTTPGet.Path != want {
			t.Errorf("%s probe %+v, want GET %s on the admin port", what, p, want)
		}
	}
	shutdown, err := time.ParseDuration(env(c, "TASKTAIL_SHUTDOWN_TIMEOUT").Value)
	if err != nil || pod.Spec.TerminationGracePeriodSeconds == nil || time.Duration(*pod.Spec.TerminationGracePeriodSeconds)*time.Second <= shutdown {
		t.Errorf("terminationGracePeriodSeconds %v, --shutdown-timeout %v (%v): the kubelet would kill a draining server", pod.Spec.TerminationGracePeriodSeconds, shutdown, err)
	}
	psc, sc := pod.Spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.FSGroup == nil || *psc.FSGroup != 65532 || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v", sc)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the pod mounts a service account token; tasktail calls no Kubernetes API")
	}
	for _, name := range []string{"TASKTAIL_PUBLISH_KEYS", "TASKTAIL_TOKEN_SECRET"} {
		if e := env(c, name); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != secret || e.ValueFrom.SecretKeyRef.Key != name {
			t.Errorf("%s: %+v, want from the Secret %s", name, e, secret)
		}
	}
	// Every TASKTAIL_ setting the chart sets is one tasktail has (the operator guide's
	// tables list them).
	readme, err := os.ReadFile("../../docs/operator-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "TASKTAIL_") && !strings.Contains(string(readme), "`"+e.Name+"`") {
			t.Errorf("%s is no setting of tasktail's", e.Name)
		}
	}
	return c
}

func TestChartSingleNode(t *testing.T) {
	r := render(t, singleValues())
	if len(r.statefulSets) != 1 || len(r.deployments) != 0 {
		t.Fatalf("%d StatefulSets, %d Deployments; want one StatefulSet", len(r.statefulSets), len(r.deployments))
	}
	ss := r.statefulSets[0]
	if *ss.Spec.Replicas != 1 {
		t.Errorf("replicas %d: one node has one pod", *ss.Spec.Replicas)
	}
	if len(r.secrets) != 1 || r.secrets[0].StringData["TASKTAIL_TOKEN_SECRET"] != strings.Repeat("s", 32) {
		t.Fatalf("secrets %+v", r.secrets)
	}
	c := checkPod(t, ss.Spec.Template, r.secrets[0].Name)
	if e := env(c, "TASKTAIL_JOURNAL"); e == nil || e.Value != "pebble" {
		t.Errorf("journal %+v", e)
	}
	// The journal's directory is the volume claimed for the pod.
	dir := env(c, "TASKTAIL_DATA_DIR").Value
	mount := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == dir })
	if mount < 0 || len(ss.Spec.VolumeClaimTemplates) != 1 || ss.Spec.VolumeClaimTemplates[0].Name != c.VolumeMounts[mount].Name {
		t.Fatalf("data dir %s, mounts %+v, claims %+v", dir, c.VolumeMounts, ss.Spec.VolumeClaimTemplates)
	}
	if size := ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]; size.String() != "10Gi" {
		t.Errorf("claim size %s", size.String())
	}
	if port(c, "cluster") != 0 || env(c, "TASKTAIL_CLUSTER") != nil {
		t.Error("single mode has a cluster port")
	}
	if len(r.services) != 2 || ss.Spec.ServiceName != r.services[1].Name || r.services[1].Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("services %+v; the StatefulSet's is %s", r.services, ss.Spec.ServiceName)
	}
	if len(r.pdbs) != 1 || r.pdbs[0].Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("a single pod's PodDisruptionBudget must let a drain move it: %+v", r.pdbs)
	}
	if len(r.policies) != 1 || len(r.policies[0].Spec.Ingress) != 2 {
		t.Errorf("single mode's NetworkPolicy: %+v", r.policies)
	}
	if len(r.monitors) != 0 {
		t.Error("a ServiceMonitor without serviceMonitor.enabled")
	}
}

func TestChartCluster(t *testing.T) {
	vals := clusterValues()
	vals["serviceMonitor"] = map[string]any{"enabled": true}
	r := render(t, vals)
	if len(r.deployments) != 1 || len(r.statefulSets) != 0 {
		t.Fatalf("%d Deployments, %d StatefulSets; want one Deployment", len(r.deployments), len(r.statefulSets))
	}
	if len(r.secrets) != 0 {
		t.Errorf("the chart made a Secret beside auth.existingSecret: %+v", r.secrets)
	}
	d := r.deployments[0]
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas %d", *d.Spec.Replicas)
	}
	c := checkPod(t, d.Spec.Template, "tasktail-credentials")
	want := map[string]string{"TASKTAIL_CLUSTER": "true", "TASKTAIL_JOURNAL": "postgres", "TASKTAIL_CLUSTER_PROVIDER": "etcd",
		"TASKTAIL_ETCD_ENDPOINTS": "http://etcd.infra:2379", "TASKTAIL_CLUSTER_HOST": "0.0.0.0"}
	for name, v := range want {
		if e := env(c, name); e == nil || e.Value != v {
			t.Errorf("%s = %+v, want %q", name, e, v)
		}
	}
	if e := env(c, "TASKTAIL_POSTGRES_URL"); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "tasktail-credentials" {
		t.Errorf("TASKTAIL_POSTGRES_URL %+v, want from the Secret", e)
	}
	clusterPort := port(c, "cluster")
	if e := env(c, "TASKTAIL_CLUSTER_ADVERTISE"); clusterPort == 0 || e == nil || e.Value != fmt.Sprintf("$(POD_IP):%d", clusterPort) {
		t.Errorf("cluster port %d, advertised %+v", clusterPort, e)
	}
	if ip := env(c, "POD_IP"); ip == nil || ip.ValueFrom == nil || ip.ValueFrom.FieldRef.FieldPath != "status.podIP" || slices.Index(c.Env, *ip) > slices.Index(c.Env, *env(c, "TASKTAIL_CLUSTER_ADVERTISE")) {
		t.Error("POD_IP must come from the downward API before the address that uses it")
	}
	// Member traffic is not authenticated: only the release's own pods reach its port.
	if len(r.policies) != 1 {
		t.Fatalf("NetworkPolicies %+v", r.policies)
	}
	np := r.policies[0]
	if !labelsMatch(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("the policy selects %v, the pods are %v", np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels)
	}
	var guarded bool
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port.String() != "cluster" {
				continue
			}
			guarded = len(rule.From) > 0
			for _, from := range rule.From {
				if from.PodSelector == nil || from.NamespaceSelector != nil || from.IPBlock != nil || !labelsMatch(from.PodSelector.MatchLabels, d.Spec.Template.Labels) {
					guarded = false
				}
			}
		}
	}
	if !guarded {
		t.Errorf("the cluster port is open beyond the release's pods: %+v", np.Spec.Ingress)
	}
	if len(r.monitors) != 1 || r.monitors[0].Spec.Endpoints[0].Port != "admin" || r.monitors[0].Spec.Endpoints[0].Path != "/metrics" ||
		!labelsMatch(r.monitors[0].Spec.Selector.MatchLabels, r.services[0].Labels) {
		t.Errorf("ServiceMonitor %+v", r.monitors)
	}
}

// labelsMatch reports whether a selector's labels all hold in labels.
func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// What the chart refuses to render, with a message that says what to set.
func TestChartRefuses(t *testing.T) {
	noEtcd := clusterValues()
	delete(noEtcd, "cluster")
	noPostgres := clusterValues()
	noPostgres["auth"] = singleValues()["auth"]
	for name, tc := range map[string]struct {
		vals map[string]any
		want string
	}{
		"no credentials":        {map[string]any{}, "auth.existingSecret"},
		"cluster without etcd":  {noEtcd, "cluster.etcdEndpoints"},
		"cluster without a URL": {noPostgres, "cluster.postgresURL"},
		"an unknown mode":       {map[string]any{"mode": "ha", "auth": map[string]any{"existingSecret": "s"}}, "mode"},
		"a short token secret":  {map[string]any{"auth": map[string]any{"publishKeys": "pk-0123456789abcdef", "tokenSecret": "short"}}, "tokenSecret"},
		"a misspelt value":      {map[string]any{"auth": map[string]any{"existingSecret": "s"}, "replica": 2}, "replica"},
	} {
		if _, err := template(tc.vals); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.want)
		}
	}
}
