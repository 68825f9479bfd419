package sms

// Decoding VI/JSON answers in pieces. govmomi's decoder copies the rest of its input at each value it
// resolves by _typeName (vim25/json discriminatorGetValue), so its work grows with the square of an
// answer: a 5,000-group listing of 11 MiB took 27 s and 5 GiB of allocations, a task's result of 1,000
// groups 0.7 s. Decoded an element at a time, the listing takes 0.3 s.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/faultfields"
)

// maxDecodeCopy bounds the bytes govmomi's decoder may copy for one answer, as decodeCost counts them.
// The answers above, in pieces, count 115 MiB (the listing, with every id at the API's 255 characters)
// and 8 MiB (the task); one built to count more (an element of thousands of nested faults) is refused
// rather than decoded for minutes.
const maxDecodeCopy = 512 << 20

// errTooComplex is returned (wrapped) for an answer that would cost more than maxDecodeCopy to decode.
var errTooComplex = errors.New("answer too complex to decode")

// typeNameKey marks each value govmomi's decoder may resolve by type name.
var typeNameKey = []byte(`"_typeName"`)

// decodeCost is an upper bound of the bytes govmomi's decoder copies for data: the whole of it for each
// value with a type name.
func decodeCost(data []byte) int64 {
	return int64(bytes.Count(data, typeNameKey)) * int64(len(data))
}

// decodeAnswer decodes the VI/JSON answer data into v: an array an element at a time, the result of a
// task (in an SmsTaskInfo or alone) apart from the rest of it, and each piece with DecodeJSON.
func decodeAnswer(data []byte, v any) error {
	budget := int64(maxDecodeCopy)
	return decodePieces(data, v, &budget)
}

func decodePieces(data []byte, v any, budget *int64) error {
	if info, ok := v.(*smstypes.SmsTaskInfo); ok {
		if rest, items, ok := splitTaskResult(data); ok {
			results, err := decodeGroupResultItems(items, budget)
			if err != nil {
				return err
			}
			if err := decodePieces(rest, info, budget); err != nil {
				return err
			}
			info.Result = results
			return nil
		}
	}
	if result, ok := v.(*vimtypes.AnyType); ok {
		// QuerySmsTaskResult's answer: a sync's result, decoded an element at a time as in SmsTaskInfo.
		if items, ok := groupResultItems(data); ok {
			results, err := decodeGroupResultItems(items, budget)
			if err != nil {
				return err
			}
			*result = results
			return nil
		}
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.Elem().Kind() == reflect.Slice && faultfields.FirstByte(data) == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return fmt.Errorf("malformed VI/JSON: %w", err)
		}
		s := reflect.MakeSlice(rv.Elem().Type(), len(items), len(items))
		for i, item := range items {
			if err := decodePieces(item, s.Index(i).Addr().Interface(), budget); err != nil {
				return err
			}
		}
		rv.Elem().Set(s)
		return nil
	}
	if *budget -= decodeCost(data); *budget < 0 {
		return fmt.Errorf("%w: decoding it would copy more than %d MiB", errTooComplex, maxDecodeCopy>>20)
	}
	return DecodeJSON(data, v)
}

// splitTaskResult returns an SmsTaskInfo's fields but its result, and the elements of the result when it
// is an ArrayOfGroupOperationResult (the result of a sync, an element per group); ok is false when it is
// not one.
func splitTaskResult(data []byte) (rest, items json.RawMessage, ok bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return nil, nil, false
	}
	items, ok = groupResultItems(fields["result"])
	if !ok {
		return nil, nil, false
	}
	delete(fields, "result")
	rest, err := json.Marshal(fields)
	if err != nil {
		return nil, nil, false
	}
	return rest, items, true
}

// decodeGroupResultItems decodes the elements of a sync's result an element at a time.
func decodeGroupResultItems(items json.RawMessage, budget *int64) (smstypes.ArrayOfGroupOperationResult, error) {
	var results []smstypes.BaseGroupOperationResult
	err := decodePieces(items, &results, budget)
	return smstypes.ArrayOfGroupOperationResult{GroupOperationResult: results}, err
}

// groupResultItems returns the elements of data when it is an ArrayOfGroupOperationResult.
func groupResultItems(data []byte) (json.RawMessage, bool) {
	var result struct {
		TypeName string          `json:"_typeName"`
		Value    json.RawMessage `json:"_value"`
	}
	if json.Unmarshal(data, &result) != nil || result.TypeName != "ArrayOfGroupOperationResult" {
		return nil, false
	}
	if len(result.Value) == 0 {
		result.Value = json.RawMessage("[]")
	}
	return result.Value, true
}
