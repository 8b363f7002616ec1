package actors

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// indexFoldASCII agrees with lower-casing both and strings.Index, on short random ASCII
// texts over a small alphabet (so that candidates and near misses are frequent).
func TestIndexFoldASCIIAgreesWithToLower(t *testing.T) {
	const alphabet = "aAbB-1 "
	r := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		s, q := word(r.IntN(24)), strings.ToLower(word(1+r.IntN(4)))
		if got, want := indexFoldASCII(s, q), strings.Index(strings.ToLower(s), q); got != want {
			t.Fatalf("indexFoldASCII(%q, %q) = %d, want %d", s, q, got, want)
		}
	}
	if indexFoldASCII("anything", "") != 0 {
		t.Fatal("an empty query matches at 0")
	}
}
