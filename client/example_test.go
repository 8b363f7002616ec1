package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/tasktail/tasktail/client"
)

// A backend job publishes its progress.
func ExampleClient_Publish() {
	c, err := client.New("http://127.0.0.1:8080", nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for i := 1; i <= 10; i++ {
		_, err := c.Publish(ctx, "import-42", client.Log{
			Level: client.Info, Message: fmt.Sprintf("chunk %d of 10 imported", i), Progress: float64(10 * i),
		})
		if errors.Is(err, client.ErrTaskFinished) {
			return // somebody ended the task already
		} else if err != nil {
			log.Printf("publish: %v", err) // logging must not stop the job
		}
	}
	_, _ = c.Publish(ctx, "import-42", client.Log{Level: client.Success, Message: "done", Progress: 100, Finished: true})
}

// Many lines at once go in one request, all or nothing.
func ExampleClient_PublishBatch() {
	c, _ := client.New("http://127.0.0.1:8080", nil)
	ack, err := c.PublishBatch(context.Background(), "report-7", []client.Log{
		{Level: client.Info, Message: "query 1 done", Progress: 50},
		{Level: client.Warning, Message: "query 2 slow", Progress: 90},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("published", ack.FirstSeq, "to", ack.LastSeq)
}

// A viewer follows a task to its end, across reconnects.
func ExampleClient_Tail() {
	c, _ := client.New("http://127.0.0.1:8080", nil)
	stream, err := c.Tail(context.Background(), "import-42", 0) // 0: everything retained
	if err != nil {
		log.Fatal(err)
	}
	defer stream.Close()
	for {
		ev, err := stream.Next()
		if err == io.EOF {
			fmt.Println("end:", stream.EndReason())
			return
		} else if err != nil {
			log.Fatal(err)
		}
		switch ev.Type {
		case "log":
			fmt.Printf("%s %-8s %3.0f%% %s\n", ev.Timestamp.Format("15:04:05"), ev.Level, ev.Progress, ev.Message)
		case "gap":
			fmt.Printf("… messages %d-%d not shown (%s)\n", ev.FromSeq, ev.ToSeq, ev.Reason)
		}
	}
}

// Status answers ErrNotFound for a task that does not exist.
func ExampleClient_Status() {
	c, _ := client.New("http://127.0.0.1:8080", nil)
	st, err := c.Status(context.Background(), "import-42")
	if errors.Is(err, client.ErrNotFound) {
		fmt.Println("no such task")
		return
	}
	fmt.Printf("connected=%v queued=%d progress=%.0f%%\n", st.Connected, st.Queued, st.Progress)
}
