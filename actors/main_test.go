package actors_test

import (
	"testing"

	"github.com/tasktail/tasktail/actors/actortest"
	"github.com/tasktail/tasktail/internal/pgserver"
)

func TestMain(m *testing.M) { actortest.VerifyNoLeaks(m, pgserver.StopShared) }
