package server

import (
	"testing"

	"github.com/tasktail/tasktail/actors/actortest"
)

func TestMain(m *testing.M) { actortest.VerifyNoLeaks(m) }
