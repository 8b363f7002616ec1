package actors

import "testing"

// queueLength gives what the trim rule leaves after n unseen messages, as applying the
// rule message by message does.
func TestQueueLengthMatchesTheTrimRule(t *testing.T) {
	for _, lk := range [][2]uint64{{100, 50}, {10, 5}, {5, 5}, {7, 1}, {1, 1}} {
		limit, keep := lk[0], lk[1]
		var queue uint64
		for n := uint64(1); n <= 1000; n++ {
			if queue++; queue > limit {
				queue = keep
			}
			if got := queueLength(n, limit, keep); got != queue {
				t.Fatalf("limit %d keep %d: after %d messages queueLength = %d, the rule leaves %d", limit, keep, n, got, queue)
			}
		}
	}
}
