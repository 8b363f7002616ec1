package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// What the hostile inputs of BENCHMARKS.md cost a server: concurrent log downloads of a
// large task (its RSS), and a page of the task list among many live tasks (its CPU).

// downloadMemory runs c.downloads downloads of the task c.prefix at once, each read as
// fast as it comes (with c.stall: its first MiB, then nothing for 5 s), and reports the
// server's RSS before and at its highest meanwhile.
func downloadMemory(ctx context.Context, c benchConfig, stdout io.Writer) error {
	if c.pid <= 0 {
		return errors.New("--downloads needs --pid: the server's RSS is sampled from /proc")
	}
	_, before := procUsage(c.pid)
	url := c.server + "/v1/tasks/" + c.prefix + "/log"
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		refused int
		failed  []error
		total   int64
	)
	began := time.Now()
	stalled := make(chan struct{})
	if c.stall {
		time.AfterFunc(5*time.Second, func() { close(stalled) })
	}
	for range c.downloads {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if c.key != "" {
				req.Header.Set("Authorization", "Bearer "+c.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err == nil && resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				mu.Lock()
				refused++
				mu.Unlock()
				return
			}
			var n int64
			if err == nil && c.stall {
				n, err = io.CopyN(io.Discard, resp.Body, 1<<20)
				<-stalled // until the RSS has been sampled for a while
				resp.Body.Close()
			} else if err == nil {
				n, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil {
				failed = append(failed, err)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	peak := before
	for tick := time.NewTicker(100 * time.Millisecond); ; {
		select {
		case <-tick.C:
			_, rss := procUsage(c.pid)
			peak = max(peak, rss)
			continue
		case <-done:
			tick.Stop()
		}
		break
	}
	secs := time.Since(began).Seconds()
	fmt.Fprintf(stdout, "%d downloads of %s: %.0f MiB in %.1f s (%d refused, %d failed)\n", c.downloads, c.prefix, float64(total)/(1<<20), secs, refused, len(failed))
	fmt.Fprintf(stdout, "server RSS: %.1f MiB before, %.1f MiB at the highest: grew %.1f MiB\n", float64(before)/(1<<20), float64(peak)/(1<<20), float64(peak-before)/(1<<20))
	if len(failed) > 0 {
		return fmt.Errorf("download: %w", failed[0])
	}
	return nil
}

// listCPU publishes one message to each of c.tasks tasks (prefix c.prefix) over
// c.producers connections, then asks for the list's first page of 50 c.listPages times
// and reports the server's CPU per page.
func listCPU(ctx context.Context, c benchConfig, stdout io.Writer) error {
	if c.pid <= 0 {
		return errors.New("--list-pages needs --pid: the server's CPU is read from /proc")
	}
	var wg sync.WaitGroup
	errs := make(chan error, c.producers)
	for p := range c.producers {
		wg.Go(func() {
			pub, err := newPoster(c.server, c.key)
			if err != nil {
				errs <- err
				return
			}
			defer pub.close()
			for t := p; t < c.tasks; t += c.producers {
				if err := pub.post(ctx, c.prefix+strconv.Itoa(t), []byte(`{"level":"info","message":"listed"}`)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	list := func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.server+"/v1/tasks?limit=50&"+c.listQuery, nil)
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("list: %s", resp.Status)
		}
		return nil
	}
	if err := list(); err != nil { // warm
		return err
	}
	cpuBefore, _ := procUsage(c.pid)
	began := time.Now()
	for range c.listPages {
		if err := list(); err != nil {
			return err
		}
	}
	cpuAfter, _ := procUsage(c.pid)
	fmt.Fprintf(stdout, "list of %d live tasks, first page of 50 (%s): %.1f ms server CPU per page, %.1f ms wall (%d pages)\n",
		c.tasks, cmp.Or(c.listQuery, "no filter"), (cpuAfter-cpuBefore)*1000/float64(c.listPages), time.Since(began).Seconds()*1000/float64(c.listPages), c.listPages)
	return nil
}
