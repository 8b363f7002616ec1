package helm

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// composeFile is what deploy/docker-compose.yml uses of the Compose format, decoded
// strictly (anchors and merge keys resolved).
type composeFile struct {
	Name     string         `json:"name"`
	Member   map[string]any `json:"x-member"`
	Env      map[string]any `json:"x-member-env"`
	Services map[string]struct {
		Image       string            `json:"image"`
		Restart     string            `json:"restart"`
		Command     []string          `json:"command"`
		Environment map[string]string `json:"environment"`
		Ports       []string          `json:"ports"`
		DependsOn   map[string]struct {
			Condition string `json:"condition"`
		} `json:"depends_on"`
		Healthcheck map[string]any `json:"healthcheck"`
	} `json:"services"`
}

// The laptop cluster: three members that each advertise their own name, reach etcd and
// PostgreSQL by the services' names with the database's own credentials, set only
// settings tasktail has, and are published on loopback only.
func TestComposeCluster(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../docs/operator-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	pg := f.Services["postgres"].Environment
	members := 0
	for name, s := range f.Services {
		if !strings.HasPrefix(name, "tasktail-") {
			continue
		}
		members++
		env := s.Environment
		if env["TASKTAIL_CLUSTER"] != "true" || env["TASKTAIL_JOURNAL"] != "postgres" || env["TASKTAIL_CLUSTER_ADVERTISE"] != name+":"+env["TASKTAIL_CLUSTER_PORT"] {
			t.Errorf("%s: %v", name, env)
		}
		etcd, err := url.Parse(env["TASKTAIL_ETCD_ENDPOINTS"])
		if err != nil || f.Services[etcd.Hostname()].Image == "" {
			t.Errorf("%s: etcd at %q is no service", name, env["TASKTAIL_ETCD_ENDPOINTS"])
		}
		db, err := url.Parse(env["TASKTAIL_POSTGRES_URL"])
		if err != nil || db.Hostname() != "postgres" || db.User.Username() != pg["POSTGRES_USER"] || db.Path != "/"+pg["POSTGRES_DB"] {
			t.Errorf("%s: PostgreSQL at %q, the database service has %v", name, env["TASKTAIL_POSTGRES_URL"], pg)
		}
		if pw, _ := db.User.Password(); pw != pg["POSTGRES_PASSWORD"] {
			t.Errorf("%s: the URL's password is not the database's", name)
		}
		for k := range env {
			if !strings.Contains(string(readme), "`"+k+"`") {
				t.Errorf("%s: %s is no setting of tasktail's", name, k)
			}
		}
		if len(s.Ports) != 1 || !strings.HasPrefix(s.Ports[0], "127.0.0.1:") {
			t.Errorf("%s: ports %v, want one on loopback", name, s.Ports)
		}
		if s.DependsOn["postgres"].Condition != "service_healthy" {
			t.Errorf("%s starts before PostgreSQL takes connections", name)
		}
	}
	if members != 3 {
		t.Errorf("%d members, want 3", members)
	}
}
