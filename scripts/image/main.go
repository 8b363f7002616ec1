// Command image assembles tasktail's OCI image from static tasktail binaries, with no
// Docker daemon and no base image: each platform's image is one layer holding the binary,
// CA certificates, a passwd and group entry for the user it runs as (65532, non-root),
// and the data directory that user owns. It writes an OCI image layout (an index of every
// platform) to --out/oci, and beside it a `docker load` tarball per platform, tagged
// tasktail:VERSION and tasktail:latest.
//
//	go run . --binary linux/amd64=../../bin/linux-amd64/tasktail --version v1.2.3 --out ../../bin/image
//
// It lives in a module of its own, so that go-containerregistry stays out of tasktail's.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's layout: where things are and whom it runs as.
const (
	binaryPath = "/usr/local/bin/tasktail"
	dataDir    = "/var/lib/tasktail"
	uid        = 65532 // "nonroot", as distroless images have it
)

type binaries map[string]string // platform (os/arch) → path of a static binary

func (b binaries) String() string { return fmt.Sprint(map[string]string(b)) }
func (b binaries) Set(v string) error {
	platform, path, ok := strings.Cut(v, "=")
	if !ok || strings.Count(platform, "/") != 1 {
		return fmt.Errorf("want OS/ARCH=PATH, got %q", v)
	}
	b[platform] = path
	return nil
}

func main() {
	bins := binaries{}
	flag.Var(bins, "binary", "OS/ARCH=PATH of a static tasktail binary (repeat for each platform)")
	version := flag.String("version", "dev", "the version stamped in the binaries, for the image's labels")
	created := flag.Int64("created", 0, "the image's creation time, Unix seconds (default: now; give the commit's time for a reproducible image)")
	certs := flag.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA certificates to put in the image")
	out := flag.String("out", "bin/image", "directory of the OCI image layout")
	flag.Parse()
	if err := build(bins, *version, *created, *certs, *out); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func build(bins binaries, version string, created int64, certsPath, out string) error {
	if len(bins) == 0 {
		return errors.New("no --binary given")
	}
	certs, err := os.ReadFile(certsPath)
	if err != nil {
		return fmt.Errorf("ca certificates: %w (apt-get install ca-certificates)", err)
	}
	when := time.Now().UTC()
	if created != 0 {
		when = time.Unix(created, 0).UTC()
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for platform, path := range bins {
		osName, arch, _ := strings.Cut(platform, "/")
		bin, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		img, err := image(bin, certs, osName, arch, version, when)
		if err != nil {
			return fmt.Errorf("%s: %w", platform, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: osName, Architecture: arch},
		}})
		// Loaded, the image is tasktail:VERSION and tasktail:latest.
		refs := map[name.Reference]v1.Image{name.MustParseReference("tasktail:latest"): img}
		if tag, err := name.NewTag("tasktail:" + version); err == nil {
			refs[tag] = img
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		tarPath := filepath.Join(out, fmt.Sprintf("tasktail-%s-%s.tar", osName, arch))
		if err := tarball.MultiRefWriteToFile(tarPath, refs); err != nil {
			return err
		}
		fmt.Printf("%s: tasktail:%s and tasktail:latest (docker load -i %s)\n", platform, version, tarPath)
	}
	if _, err := layout.Write(filepath.Join(out, "oci"), idx); err != nil {
		return err
	}
	fmt.Printf("OCI layout with %d platforms: %s\n", len(bins), filepath.Join(out, "oci"))
	return nil
}

// image is one platform's image: a single layer and its config.
func image(bin, certs []byte, osName, arch, version string, created time.Time) (v1.Image, error) {
	layer, err := rootfs(bin, certs, created)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = osName, arch, v1.Time{Time: created}
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint:   []string{binaryPath},
		Cmd:          []string{"serve"},
		WorkingDir:   dataDir,
		Env:          []string{"TASKTAIL_DATA_DIR=" + dataDir, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Volumes:      map[string]struct{}{dataDir: {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "tasktail",
			"org.opencontainers.image.description": "live logs and progress of background tasks over WebSocket",
			"org.opencontainers.image.version":     version,
			"org.opencontainers.image.source":      "https://github.com/tasktail/tasktail",
			"org.opencontainers.image.licenses":    "Apache-2.0",
		},
	}
	return mutate.ConfigFile(img, cf)
}

// rootfs is the image's one layer.
func rootfs(bin, certs []byte, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(path string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: path + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: mtime})
	}
	file := func(path string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []error{
		dir("etc", 0o755, 0), dir("etc/ssl", 0o755, 0), dir("etc/ssl/certs", 0o755, 0),
		file("etc/ssl/certs/ca-certificates.crt", 0o644, certs),
		file("etc/passwd", 0o644, fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\ntasktail:x:%d:%d:tasktail:%s:/sbin/nologin\n", uid, uid, dataDir)),
		file("etc/group", 0o644, fmt.Appendf(nil, "root:x:0:\ntasktail:x:%d:\n", uid)),
		dir("tmp", 0o1777, 0),
		dir("usr", 0o755, 0), dir("usr/local", 0o755, 0), dir("usr/local/bin", 0o755, 0),
		file(strings.TrimPrefix(binaryPath, "/"), 0o755, bin),
		dir("var", 0o755, 0), dir("var/lib", 0o755, 0), dir(strings.TrimPrefix(dataDir, "/"), 0o700, uid),
		tw.Close(),
	}
	if err := errors.Join(steps...); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
