package sms_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// TestJSONFaultOfAnyStatus: a VI/JSON fault body is the server's answer whatever the failed HTTP status
// it comes with; a failed status without one keeps its own meaning.
func TestJSONFaultOfAnyStatus(t *testing.T) {
	const syncPath = "/sms/VasaProvider/vasaprovider-1/SyncReplicationGroup_Task"
	for name, tc := range map[string]struct {
		status      int
		contentType string
		body        string
		check       func(g Gomega, err error)
	}{
		"400 with an InvalidArgument fault": {
			http.StatusBadRequest, "application/json",
			`{"_typeName":"InvalidArgument","invalidProperty":"groupId","faultstring":"groupId must not be empty"}`,
			func(g Gomega, err error) {
				var ia *sms.InvalidArgumentError
				g.Expect(errors.As(err, &ia)).To(BeTrue(), "got %v", err)
				g.Expect(ia.Property).To(Equal("groupId"))
				g.Expect(ia.Message).To(Equal("groupId must not be empty"))
			},
		},
		"404 with a ManagedObjectNotFound fault": {
			http.StatusNotFound, "application/json",
			`{"_typeName":"ManagedObjectNotFound","faultstring":"gone","obj":{"_typeName":"ManagedObjectReference","type":"VasaProvider","value":"vasaprovider-1"}}`,
			func(g Gomega, err error) {
				var of *sms.OtherFaultError
				g.Expect(errors.As(err, &of)).To(BeTrue(), "got %v", err)
				g.Expect(of.Type).To(Equal("ManagedObjectNotFound"))
			},
		},
		"503 with JSON that is no fault": {
			http.StatusServiceUnavailable, "application/json", `{"status":"starting"}`,
			func(g Gomega, err error) {
				var su *sms.ServiceUnavailableError
				g.Expect(errors.As(err, &su)).To(BeTrue(), "got %v", err)
			},
		},
		"404 without a fault body": {
			http.StatusNotFound, "text/plain", "404 page not found",
			func(g Gomega, err error) {
				var f sms.Fault
				g.Expect(errors.As(err, &f)).To(BeFalse(), "got %v", err)
				g.Expect(err.Error()).To(ContainSubstring("not served"))
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			sim := startSim(t)
			cfg := behindFront(t, sim, sms.BindingJSON, func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, syncPath) {
					return false
				}
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
				return true
			})
			c, err := sms.Dial(context.Background(), cfg)
			g.Expect(err).NotTo(HaveOccurred())
			t.Cleanup(func() { _ = c.Close(context.Background()) })
			ids, _ := groups("fd-1", 1)
			_, err = c.SyncReplicationGroups(context.Background(), "vasaprovider-1", ids, "p")
			tc.check(g, err)
		})
	}
}
