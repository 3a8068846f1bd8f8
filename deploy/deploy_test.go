// Package deploy validates the Kubernetes manifests in kubernetes/: every
// document decodes strictly (unknown or misspelt fields fail) into the
// Kubernetes API's own Go types, or, for KEDA's ScaledObject (a CRD outside
// k8s.io/api), into the fields of keda.sh/v1alpha1 we use; and the documents
// agree with each other and with Loom (selectors match pods, probes and
// Services name real ports, every worker group has a scaler on Loom's
// per-model gauges). It is a module of its own so the server's go.mod never
// carries the Kubernetes types.
package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const dir = "kubernetes"

// scaledObject is KEDA's keda.sh/v1alpha1 ScaledObject, the fields this
// repository uses (https://keda.sh/docs/latest/reference/scaledobject-spec/).
type scaledObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval"`
		CooldownPeriod  *int32 `json:"cooldownPeriod"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Name     string            `json:"name"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// manifests are the decoded documents, by kind.
type manifests struct {
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	services     []corev1.Service
	pvcs         []corev1.PersistentVolumeClaim
	hpas         []autoscalingv2.HorizontalPodAutoscaler
	scaled       []scaledObject
}

// strict decodes one document, failing on unknown and duplicate fields.
func strict(t *testing.T, where string, doc []byte, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, into); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

// add decodes doc strictly as a T onto to.
func add[T any](t *testing.T, where string, doc []byte, to *[]T) {
	t.Helper()
	var v T
	strict(t, where, doc, &v)
	*to = append(*to, v)
}

func load(t *testing.T) manifests {
	t.Helper()
	var k kustomization
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	strict(t, "kustomization.yaml", raw, &k)
	if k.Kind != "Kustomization" || len(k.Resources) == 0 {
		t.Fatalf("kustomization.yaml: kind %q with %d resources", k.Kind, len(k.Resources))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && !slices.Contains(k.Resources, b) {
			t.Errorf("%s is not listed in kustomization.yaml", b)
		}
	}
	var m manifests
	for _, res := range k.Resources {
		raw, err := os.ReadFile(filepath.Join(dir, res))
		if err != nil {
			t.Fatalf("kustomization resource: %v", err)
		}
		for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
			where := res + " document " + strconv.Itoa(i+1)
			var head metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 Deployment":
				add(t, where, doc, &m.deployments)
			case "apps/v1 StatefulSet":
				add(t, where, doc, &m.statefulSets)
			case "v1 Service":
				add(t, where, doc, &m.services)
			case "v1 PersistentVolumeClaim":
				add(t, where, doc, &m.pvcs)
			case "autoscaling/v2 HorizontalPodAutoscaler":
				add(t, where, doc, &m.hpas)
			case "keda.sh/v1alpha1 ScaledObject":
				add(t, where, doc, &m.scaled)
			default:
				t.Fatalf("%s: unexpected %s %s", where, head.APIVersion, head.Kind)
			}
		}
	}
	return m
}

// pod is a workload's pod template, whichever kind holds it.
type pod struct {
	kind, name string
	selector   *metav1.LabelSelector
	tmpl       corev1.PodTemplateSpec
}

func (m *manifests) pods() []pod {
	var out []pod
	for _, d := range m.deployments {
		out = append(out, pod{"Deployment", d.Name, d.Spec.Selector, d.Spec.Template})
	}
	for _, s := range m.statefulSets {
		out = append(out, pod{"StatefulSet", s.Name, s.Spec.Selector, s.Spec.Template})
	}
	return out
}

func matches(sel map[string]string, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// hasPort reports whether a container exposes p (by name or number).
func hasPort(c corev1.Container, p intstr.IntOrString) bool {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return true
		}
	}
	return false
}

func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func TestManifests(t *testing.T) {
	m := load(t)
	if len(m.deployments) < 4 || len(m.statefulSets) != 1 || len(m.services) != 2 || len(m.scaled) < 3 {
		t.Fatalf("found %d Deployments, %d StatefulSets, %d Services, %d ScaledObjects; want the gateway, three worker groups, Redis, two Services, a scaler per group",
			len(m.deployments), len(m.statefulSets), len(m.services), len(m.scaled))
	}
	pods := m.pods()
	for _, p := range pods {
		if p.selector == nil || !matches(p.selector.MatchLabels, p.tmpl.Labels) {
			t.Errorf("%s %s: selector %v does not match its pod labels %v", p.kind, p.name, p.selector, p.tmpl.Labels)
		}
		for _, c := range p.tmpl.Spec.Containers {
			for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
				if probe == nil {
					t.Errorf("%s %s container %s: missing a liveness or readiness probe", p.kind, p.name, c.Name)
					continue
				}
				if g := probe.HTTPGet; g != nil && !hasPort(c, g.Port) {
					t.Errorf("%s %s: probe %s on port %s, which the container does not expose", p.kind, p.name, g.Path, g.Port.String())
				}
			}
			for _, vm := range c.VolumeMounts {
				found := slices.ContainsFunc(p.tmpl.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
				if p.kind == "StatefulSet" {
					found = found || vm.Name == "data"
				}
				if !found {
					t.Errorf("%s %s: mounts volume %s that is not defined", p.kind, p.name, vm.Name)
				}
			}
			for _, v := range p.tmpl.Spec.Volumes {
				if pvc := v.PersistentVolumeClaim; pvc != nil &&
					!slices.ContainsFunc(m.pvcs, func(c corev1.PersistentVolumeClaim) bool { return c.Name == pvc.ClaimName }) {
					t.Errorf("%s %s: claim %s is not defined", p.kind, p.name, pvc.ClaimName)
				}
			}
		}
	}
	// Each Service selects pods and targets a port they expose.
	for _, s := range m.services {
		var target *pod
		for i := range pods {
			if matches(s.Spec.Selector, pods[i].tmpl.Labels) {
				target = &pods[i]
			}
		}
		if target == nil {
			t.Errorf("Service %s selects no pods", s.Name)
			continue
		}
		for _, sp := range s.Spec.Ports {
			if !hasPort(target.tmpl.Spec.Containers[0], sp.TargetPort) {
				t.Errorf("Service %s: targetPort %s not exposed by %s", s.Name, sp.TargetPort.String(), target.name)
			}
		}
	}
	// Redis keeps its data.
	redis := m.statefulSets[0]
	if len(redis.Spec.VolumeClaimTemplates) == 0 || !slices.Contains(redis.Spec.Template.Spec.Containers[0].Args, "--appendonly") {
		t.Errorf("Redis %s: want a volume claim and --appendonly", redis.Name)
	}
	// The gateway and the workers: loom's own commands, probes on /healthz and
	// /readyz, Redis by its Service's name.
	redisURL := "redis://" + "loom-redis" + ":6379/0"
	var workers []string
	for _, d := range m.deployments {
		c := d.Spec.Template.Spec.Containers[0]
		if len(c.Args) == 0 || (c.Args[0] != "gateway" && c.Args[0] != "worker") {
			continue
		}
		if c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
			c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("Deployment %s: want liveness /healthz and readiness /readyz", d.Name)
		}
		if got := env(c, "LOOM_REDIS"); got != redisURL {
			t.Errorf("Deployment %s: LOOM_REDIS %q, want %q", d.Name, got, redisURL)
		}
		if c.Args[0] == "worker" {
			workers = append(workers, d.Name)
			grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
			if env(c, "LOOM_METRICS_ADDR") == "" || env(c, "LOOM_DRAIN_TIMEOUT") == "" || grace == nil || *grace < 61 {
				t.Errorf("Deployment %s: a worker needs LOOM_METRICS_ADDR (its probes), LOOM_DRAIN_TIMEOUT and a grace period longer than the drain", d.Name)
			}
		}
	}
	if len(workers) < 3 {
		t.Fatalf("worker Deployments %v, want three model groups", workers)
	}
	// Every worker group scales on Loom's per-model gauges.
	gauge := regexp.MustCompile(`loom_model_(queue_depth|oldest_job_age_seconds)\{model=~"[^"]+"\}`)
	for _, w := range workers {
		i := slices.IndexFunc(m.scaled, func(s scaledObject) bool { return s.Spec.ScaleTargetRef.Name == w })
		if i < 0 {
			t.Errorf("worker Deployment %s has no ScaledObject", w)
			continue
		}
		s := m.scaled[i]
		if s.Spec.ScaleTargetRef.Kind != "Deployment" || s.Spec.MaxReplicaCount == nil || s.Spec.MinReplicaCount == nil ||
			*s.Spec.MinReplicaCount > *s.Spec.MaxReplicaCount || len(s.Spec.Triggers) == 0 {
			t.Errorf("ScaledObject %s: bad target or replica bounds", s.Metadata.Name)
		}
		for _, tr := range s.Spec.Triggers {
			q := tr.Metadata["query"]
			if tr.Type != "prometheus" || tr.Metadata["serverAddress"] == "" || tr.Metadata["threshold"] == "" || !gauge.MatchString(q) {
				t.Errorf("ScaledObject %s trigger %s: want a prometheus trigger on loom_model_* with a threshold, got %s %v", s.Metadata.Name, tr.Name, tr.Type, tr.Metadata)
			}
			if strings.Contains(q, "loom_model_queue_depth") && !strings.HasPrefix(q, "max(") {
				t.Errorf("ScaledObject %s: %s sums every gateway's copy of the same depth; take the max over instances", s.Metadata.Name, q)
			}
		}
	}
	for _, h := range m.hpas {
		if !slices.ContainsFunc(m.deployments, func(d appsv1.Deployment) bool { return d.Name == h.Spec.ScaleTargetRef.Name }) {
			t.Errorf("HPA %s targets %s, which is not defined", h.Name, h.Spec.ScaleTargetRef.Name)
		}
	}
}

// The strict decoding is what catches a misspelt field: prove it does.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	doc := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n")
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(doc, &d); err == nil {
		t.Fatal("spec.replica (a typo of replicas) decoded without error")
	}
	var s scaledObject
	if err := yaml.UnmarshalStrict([]byte("spec: {minReplicas: 1}\n"), &s); err == nil {
		t.Fatal("ScaledObject spec.minReplicas (HPA's name, not KEDA's) decoded without error")
	}
}
