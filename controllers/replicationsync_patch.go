package controllers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// A ReplicationSync's status is written as a JSON patch (RFC 6902) of what changed: the group entries
// that changed and the other status fields that changed, plus the resourceVersion the change was computed
// from. A merge patch would send the whole groups list on every write (groups is an atomic list): with
// 1000 groups that is about 200 KB per write, where a wave's commit changes a few entries.

// patchOp is one JSON patch operation.
type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
}

// statusPatch returns the patch from before to after. Setting /metadata/resourceVersion to the version
// before was read at makes the API server refuse the write with a conflict when anyone wrote since.
func statusPatch(before, after *replicationv1alpha1.ReplicationSync) (client.Patch, error) {
	ops, err := statusOps(before.Status, after.Status)
	if err != nil {
		return nil, err
	}
	rv, _ := json.Marshal(before.ResourceVersion)
	ops = slices.Insert(ops, 0, patchOp{Op: "replace", Path: "/metadata/resourceVersion", Value: rv})
	data, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("encoding the status patch: %w", err)
	}
	return client.RawPatch(types.JSONPatchType, data), nil
}

// statusOps lists the operations that turn before into after.
func statusOps(before, after replicationv1alpha1.ReplicationSyncStatus) ([]patchOp, error) {
	b, err := fields(before)
	if err != nil {
		return nil, err
	}
	a, err := fields(after)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		whole, err := json.Marshal(after)
		if err != nil {
			return nil, err
		}
		return []patchOp{{Op: "add", Path: "/status", Value: whole}}, nil
	}
	var ops []patchOp
	for _, k := range sortedKeys(b, a) {
		bv, inB := b[k]
		av, inA := a[k]
		switch {
		case !inA:
			ops = append(ops, patchOp{Op: "remove", Path: "/status/" + k})
		case !inB:
			ops = append(ops, patchOp{Op: "add", Path: "/status/" + k, Value: av})
		case bytes.Equal(bv, av):
		case k == "groups" && len(before.Groups) == len(after.Groups):
			groupOps, err := groupsOps(before.Groups, after.Groups)
			if err != nil {
				return nil, err
			}
			ops = append(ops, groupOps...)
		default:
			ops = append(ops, patchOp{Op: "replace", Path: "/status/" + k, Value: av})
		}
	}
	return ops, nil
}

// groupsOps replaces the group entries that changed, one by one.
func groupsOps(before, after []replicationv1alpha1.GroupStatus) ([]patchOp, error) {
	var ops []patchOp
	for i := range after {
		bv, err := json.Marshal(before[i])
		if err != nil {
			return nil, err
		}
		av, err := json.Marshal(after[i])
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(bv, av) {
			ops = append(ops, patchOp{Op: "replace", Path: "/status/groups/" + strconv.Itoa(i), Value: av})
		}
	}
	return ops, nil
}

// fields splits a status into its top-level JSON fields.
func fields(st replicationv1alpha1.ReplicationSyncStatus) (map[string]json.RawMessage, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding status: %w", err)
	}
	out := map[string]json.RawMessage{}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("decoding status: %w", err)
	}
	return out, nil
}

func sortedKeys(maps ...map[string]json.RawMessage) []string {
	var keys []string
	for _, m := range maps {
		for k := range m {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}
