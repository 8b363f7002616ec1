package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ociDescriptor, ociManifest and ociConfig are the parts of the OCI image format the test
// reads: with the standard library alone, not the library that wrote the image.
type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Platform  *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

type ociManifest struct {
	Config ociDescriptor   `json:"config"`
	Layers []ociDescriptor `json:"layers"`
}

type ociConfig struct {
	Architecture string `json:"architecture"`
	Config       struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Env        []string          `json:"Env"`
		WorkingDir string            `json:"WorkingDir"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
}

// blob reads a blob of the OCI layout at dir into v (JSON) or returns its bytes.
func blob(t *testing.T, dir, digest string, v any) []byte {
	t.Helper()
	algo, hex, _ := strings.Cut(digest, ":")
	b, err := os.ReadFile(filepath.Join(dir, "blobs", algo, hex))
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("blob %s: %v", digest, err)
		}
	}
	return b
}

// `make image`'s tool builds the image from the static binary with no daemon and no base
// image; the test unpacks this platform's image with the standard library, checks what an
// operator relies on (non-root user, static binary, certificates, a data directory the
// user owns, the version label), and runs the binary inside the unpacked root as the
// image's user: `serve --help`, then a server that takes a publish.
func TestImageRunsTheBinaryInside(t *testing.T) {
	if strings.Contains(os.Getenv("TASKTAIL_TEST_BUILD_FLAGS"), "-race") {
		t.Skip("a -race binary is not static: the image takes the static build")
	}
	bin := tasktailBinary(t)
	if f, err := elf.Open(bin); err != nil {
		t.Fatal(err)
	} else {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Fatal("the binary has a dynamic loader: the image has no libc")
			}
		}
		f.Close()
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a cold build of the tool
	defer cancel()
	tool := exec.CommandContext(ctx, "go", "-C", "../scripts/image", "run", ".",
		"--binary", "linux/"+runtime.GOARCH+"="+bin, "--version", "v9.8.7-test", "--out", out)
	if b, err := tool.CombinedOutput(); err != nil {
		t.Fatalf("the image tool: %v\n%s", err, b)
	}
	layout := filepath.Join(out, "oci")
	var index struct{ Manifests []ociDescriptor }
	if b, err := os.ReadFile(filepath.Join(layout, "index.json")); err != nil || json.Unmarshal(b, &index) != nil {
		t.Fatalf("index.json: %v %s", err, b)
	}
	i := slices.IndexFunc(index.Manifests, func(d ociDescriptor) bool {
		return d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH
	})
	if i < 0 {
		t.Fatalf("no linux/%s image in %+v", runtime.GOARCH, index.Manifests)
	}
	var m ociManifest
	blob(t, layout, index.Manifests[i].Digest, &m)
	var cfg ociConfig
	blob(t, layout, m.Config.Digest, &cfg)
	c := cfg.Config
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/tasktail"}) || !slices.Equal(c.Cmd, []string{"serve"}) ||
		c.Labels["org.opencontainers.image.version"] != "v9.8.7-test" || c.WorkingDir != "/var/lib/tasktail" {
		t.Fatalf("image config %+v", c)
	}
	if _, err := os.Stat(filepath.Join(out, "tasktail-linux-"+runtime.GOARCH+".tar")); err != nil {
		t.Fatalf("no docker load tarball: %v", err)
	}

	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil { // the image's / as any root file system has it
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		unpack(t, root, blob(t, layout, l.Digest, nil))
	}
	for _, f := range []string{"etc/ssl/certs/ca-certificates.crt", "etc/passwd", "etc/group", "tmp"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("the image lacks /%s: %v", f, err)
		}
	}
	if passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); !strings.Contains(string(passwd), "tasktail:x:65532:65532:") {
		t.Errorf("/etc/passwd: %q", passwd)
	}
	if fi, err := os.Stat(filepath.Join(root, "var/lib/tasktail")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("/var/lib/tasktail: %v %v", fi, err)
	}

	// The binary as the image runs it: chrooted into the unpacked root, as its user. (Not
	// as root, the test can only run it from the root's folder.)
	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(root, "usr/local/bin/tasktail"), args...)
		cmd.Env = c.Env
		if os.Geteuid() == 0 {
			cmd.Path, cmd.Dir = "/usr/local/bin/tasktail", c.WorkingDir
			uid, _ := strconv.Atoi(strings.Split(c.User, ":")[0])
			cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		} else {
			cmd.Env = append(cmd.Env, "TASKTAIL_DATA_DIR="+filepath.Join(root, "var/lib/tasktail"))
		}
		return cmd
	}
	help, err := run("serve", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "--addr") {
		t.Fatalf("serve --help inside the image: %v\n%s", err, help)
	}
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	srv := run("serve", "--addr", addr)
	var logs syncBuffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		if err := <-exited; err != nil {
			t.Errorf("serve inside the image exited: %v\n%s", err, logs.String())
		}
	}()
	base := "http://" + addr
	hc := &http.Client{Timeout: 2 * time.Second}
	await(t, "serve inside the image is ready", func() bool {
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	resp, err := hc.Post(base+"/v1/tasks/in-image/logs", "application/json", strings.NewReader(`{"level":"success","message":"from the image","finished":true}`))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("publish to serve inside the image: %v %v\n%s", resp, err, logs.String())
	}
	resp.Body.Close()
	// The journal is in the image's data directory, written by its user.
	if entries, err := os.ReadDir(filepath.Join(root, "var/lib/tasktail")); err != nil || len(entries) == 0 {
		t.Fatalf("the journal in /var/lib/tasktail: %v %v", entries, err)
	}
}

// unpack extracts a gzipped layer into root, with the owners it names when run as root.
func unpack(t *testing.T, root string, layer []byte) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o755)
		case tar.TypeReg:
			var data []byte
			if data, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(path, data, 0o600)
			}
		default:
			t.Fatalf("layer entry %s of type %c", h.Name, h.Typeflag)
		}
		if err == nil {
			err = os.Chmod(path, os.FileMode(h.Mode).Perm()|modeBits(h.Mode))
		}
		if err == nil && os.Geteuid() == 0 {
			err = os.Lchown(path, h.Uid, h.Gid)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// modeBits turns a tar mode's sticky bit into Go's.
func modeBits(mode int64) os.FileMode {
	if mode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}
