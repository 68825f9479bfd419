package gitops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// argoCM is the argocd-cm patch users merge into their Argo CD installation.
var argoCM = filepath.Join("..", "..", "config", "gitops", "argocd", "argocd-cm-patch.yaml")

// argoActions is the value of a resource.customizations.actions.<group>_<kind> key.
type argoActions struct {
	DiscoveryLua string `json:"discovery.lua"`
	Definitions  []struct {
		Name      string `json:"name"`
		ActionLua string `json:"action.lua"`
	} `json:"definitions"`
}

// argoImpactedResource is one entry of a new-style action's result.
type argoImpactedResource struct {
	Operation string         `json:"operation"`
	Resource  map[string]any `json:"resource"`
}

func loadArgoCM(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(argoCM)
	if err != nil {
		t.Fatalf("reading %s: %v", argoCM, err)
	}
	cm := &corev1.ConfigMap{}
	if err := yaml.UnmarshalStrict(raw, cm); err != nil {
		t.Fatalf("parsing %s: %v", argoCM, err)
	}
	return cm.Data
}

func healthScript(t *testing.T, kind string) string {
	t.Helper()
	key := "resource.customizations.health.replication.vasa.io_" + kind
	script, ok := loadArgoCM(t)[key]
	if !ok || script == "" {
		t.Fatalf("%s has no %s", argoCM, key)
	}
	return script
}

func scheduleActions(t *testing.T) argoActions {
	t.Helper()
	key := "resource.customizations.actions.replication.vasa.io_ReplicationSyncSchedule"
	raw, ok := loadArgoCM(t)[key]
	if !ok {
		t.Fatalf("%s has no %s", argoCM, key)
	}
	var a argoActions
	if err := yaml.UnmarshalStrict([]byte(raw), &a); err != nil {
		t.Fatalf("parsing %s: %v", key, err)
	}
	return a
}

func (a argoActions) action(t *testing.T, name string) string {
	t.Helper()
	for _, d := range a.Definitions {
		if d.Name == name {
			return d.ActionLua
		}
	}
	t.Fatalf("no action %q defined", name)
	return ""
}

// runArgoLua runs a script the way Argo CD's util/lua VM does for configmap customizations: standard
// libraries off except package, base, table and a safe os (time and date only), the object as the
// global obj, a one-second deadline, and the returned table encoded to JSON as layeh.com/gopher-json does.
func runArgoLua(t *testing.T, obj map[string]any, script string) any {
	t.Helper()
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, lua.OpenOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			t.Fatalf("opening %s: %v", lib.name, err)
		}
	}
	full := l.GetGlobal(lua.OsLibName).(*lua.LTable)
	safe := l.NewTable()
	safe.RawSetString("time", full.RawGetString("time"))
	safe.RawSetString("date", full.RawGetString("date"))
	l.SetGlobal(lua.OsLibName, safe)
	if err := l.DoString(`package.loaded.os = os`); err != nil {
		t.Fatalf("installing the safe os library: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decodeValue(l, obj))
	if err := l.DoString(script); err != nil {
		t.Fatalf("running the script: %v", err)
	}
	out, err := encodeValue(l.Get(-1))
	if err != nil {
		t.Fatalf("encoding the script's result: %v", err)
	}
	return out
}

// decodeValue converts a JSON-like value into Lua as Argo CD's decodeValue does.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// encodeValue converts a Lua value to Go as layeh.com/gopher-json's Encode (used by Argo CD) does:
// an empty table is an empty array, a table with keys 1..n an array, one with string keys an object.
func encodeValue(v lua.LValue) (any, error) {
	switch v := v.(type) {
	case lua.LBool:
		return bool(v), nil
	case lua.LNumber:
		return float64(v), nil
	case lua.LString:
		return string(v), nil
	case *lua.LNilType:
		return nil, nil
	case *lua.LTable:
		key, value := v.Next(lua.LNil)
		switch key.Type() {
		case lua.LTNil:
			return []any{}, nil
		case lua.LTNumber:
			var arr []any
			for expected := lua.LNumber(1); key != lua.LNil; expected++ {
				if key != expected {
					return nil, errors.New("sparse array or mixed keys")
				}
				item, err := encodeValue(value)
				if err != nil {
					return nil, err
				}
				arr = append(arr, item)
				key, value = v.Next(key)
			}
			return arr, nil
		case lua.LTString:
			obj := map[string]any{}
			for key != lua.LNil {
				if key.Type() != lua.LTString {
					return nil, errors.New("mixed keys")
				}
				item, err := encodeValue(value)
				if err != nil {
					return nil, err
				}
				obj[key.String()] = item
				key, value = v.Next(key)
			}
			return obj, nil
		}
	}
	return nil, fmt.Errorf("cannot encode a Lua %s", v.Type())
}

// asJSON round-trips v through JSON into out, as Argo CD unmarshals a script's result.
func asJSON(t *testing.T, v any, out any) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshalling %v: %v", v, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("unmarshalling %s: %v", raw, err)
	}
}
