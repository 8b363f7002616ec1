// Package cli holds what tasktail's commands (cmd/tasktail, cmd/tasktail-bench) share:
// flags that the environment sets (TASKTAIL_*), the client flags --server and --key, and
// how an error becomes an exit code (ExitCode). Nothing here blocks or starts goroutines.
package cli
