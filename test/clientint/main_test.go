package clientint

import (
	"os"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestMain silences gin's route listing, printed once per node started.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}
