package actors_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tasktail/tasktail/actors"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// printSocket is a conn.Socket that keeps what a viewer would see, to print once closed
// (frames are written by a goroutine of the Manager's).
type printSocket struct {
	seen   []string
	closed chan struct{}
}

func (s *printSocket) Write(_ context.Context, frame []byte) error {
	var f struct {
		Type    string `json:"type"`
		Seq     uint64 `json:"seq"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		return err
	}
	if f.Type == "log" {
		s.seen = append(s.seen, fmt.Sprintf("log %d %s", f.Seq, f.Message))
	} else {
		s.seen = append(s.seen, f.Type)
	}
	return nil
}

func (s *printSocket) Close(code wire.CloseCode, reason string) error {
	s.seen = append(s.seen, fmt.Sprint("closed ", code, " ", reason))
	close(s.closed)
	return nil
}

// The original ConnectionManager's five methods: messages published while nobody watches
// are queued and flushed on connect; status and the queue count answer for the task.
func ExampleManager() {
	ctx := context.Background()
	m, err := actors.NewManager(actors.Config{}, actors.Options{})
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)

	m.SendLog(ctx, "import-42", v1.Level_LEVEL_INFO, "rows 1-1000", 10, false)    // send_log
	m.SendLog(ctx, "import-42", v1.Level_LEVEL_INFO, "rows 1001-2000", 20, false) // queued: nobody watches
	n, _ := m.QueuedCount(ctx, "import-42")                                       // get_queued_message_count
	fmt.Println("queued:", n)

	s := &printSocket{closed: make(chan struct{})}
	if err := m.Connect(ctx, "import-42", s); err != nil { // connect: hello, then the queue
		panic(err)
	}
	ok, _ := m.ConnectionStatus(ctx, "import-42") // get_connection_status
	fmt.Println("connected:", ok)

	m.SendLog(ctx, "import-42", v1.Level_LEVEL_SUCCESS, "done", 100, true) // live, and finishes the task
	<-s.closed
	for _, line := range s.seen {
		fmt.Println(line)
	}
	m.Disconnect(ctx, "import-42") // disconnect: drops the task
	n, _ = m.QueuedCount(ctx, "import-42")
	fmt.Println("queued after disconnect:", n)
	// Output:
	// queued: 2
	// connected: true
	// hello
	// log 1 rows 1-1000
	// log 2 rows 1001-2000
	// log 3 done
	// closed 1000 task finished
	// queued after disconnect: 0
}
