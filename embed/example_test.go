package embed_test

import (
	"context"
	"fmt"

	"github.com/tasktail/tasktail/embed"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// A program that embeds tasktail in memory: publish while nobody watches, then ask.
func Example() {
	ctx := context.Background()
	m, err := embed.New(embed.Config{}, embed.Options{})
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)
	if _, err := m.SendLog(ctx, "import-42", v1.Level_LEVEL_INFO, "rows 1-1000 imported", 10, false); err != nil {
		panic(err)
	}
	st, err := embed.Ask[*embed.Status](ctx, m, &v1.GetStatus{TaskId: "import-42"})
	if err != nil {
		panic(err)
	}
	fmt.Println(st.LastSeq, st.Queued, st.Progress)
	// Output: 1 1 10
}
