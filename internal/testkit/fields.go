package testkit

import "reflect"

// StringFields calls visit for every settable string field reachable from
// v (allocating pointed-to structs and one slice element), with a setter
// for it; path names the field ("Event.Welcome.Name"). Tests that put
// hostile text in every field of an event use it, so that a field added
// to chat.Event later is covered without a change to them.
func StringFields(v reflect.Value, path string, visit func(path string, set func(string))) {
	switch v.Kind() {
	case reflect.String:
		visit(path, func(s string) { v.SetString(s) })
	case reflect.Ptr:
		if v.Type().Elem().Kind() == reflect.Struct {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			StringFields(v.Elem(), path, visit)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				StringFields(v.Field(i), path+"."+t.Field(i).Name, visit)
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		}
		StringFields(v.Index(0), path+"[0]", visit)
	}
}
