package ckpt

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
)

// pyRepr formats a value the way Python's repr would (dict keys sorted).
func pyRepr(v any) string {
	join := func(items []any) string {
		s := make([]string, len(items))
		for i, it := range items {
			s[i] = pyRepr(it)
		}
		return strings.Join(s, ", ")
	}
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case int64:
		return fmt.Sprint(v)
	case *big.Int:
		return v.String()
	case float64:
		return fmt.Sprint(v)
	case string:
		return fmt.Sprintf("%q", v)
	case pyBytes:
		return fmt.Sprintf("b%q", string(v))
	case *pyTuple:
		if len(v.items) == 1 {
			return "(" + pyRepr(v.items[0]) + ",)"
		}
		return "(" + join(v.items) + ")"
	case *pyList:
		return "[" + join(v.items) + "]"
	case *pySet:
		return "{" + join(v.items) + "}"
	case *pyDict:
		s := make([]string, len(v.keys))
		for i, k := range v.keys {
			s[i] = pyRepr(k) + ": " + pyRepr(v.vals[i])
		}
		sort.Strings(s)
		return "{" + strings.Join(s, ", ") + "}"
	case *pyObject:
		return v.class.String() + pyRepr(v.args)
	}
	return typeName(v)
}

// Python 3.11 pickle.dumps of
//
//	l = [1, 2]
//	{"s": "héllo\\u", "i": [0, 255, 65535, -1, 2**31-1, -2**31, 2**40, -2**63, 2**100, -2**70],
//	 "f": 1.5e-3, "t": (1,), "t2": (1, 2), "t3": (1, 2, 3), "t4": (1, 2, 3, 4), "n": None,
//	 "tf": [True, False], "set": {1}, "fs": frozenset([2]),
//	 "od": collections.OrderedDict([("a", 1)]), "shared": (l, l)}
//
// at protocols 0 to 5.
var pythonPickles = map[int]string{
	0: "286470300a56730a70310a5668e96c6c6f5c7530303563750a70320a7356690a70330a286c70340a49300a61493235350a614936353533350a61492d310a6149323134373438333634370a61492d323134373438333634380a614c313039393531313632373737364c0a614c2d393232333337323033363835343737353830384c0a614c313236373635303630303232383232393430313439363730333230353337364c0a614c2d313138303539313632303731373431313330333432344c0a617356660a70350a46302e303031350a7356740a70360a2849310a7470370a735674320a70380a2849310a49320a7470390a735674330a7031300a2849310a49320a49330a747031310a735674340a7031320a2849310a49320a49330a49340a747031330a73566e0a7031340a4e735674660a7031350a286c7031360a4930310a614930300a6173567365740a7031370a635f5f6275696c74696e5f5f0a7365740a7031380a28286c7031390a49310a61747032300a527032310a735666730a7032320a635f5f6275696c74696e5f5f0a66726f7a656e7365740a7032330a28286c7032340a49320a61747032350a527032360a73566f640a7032370a63636f6c6c656374696f6e730a4f726465726564446963740a7032380a2874527032390a56610a7033300a49310a7373567368617265640a7033310a28286c7033320a49310a6149320a616733320a747033330a732e",
	1: "7d7100285801000000737101580800000068c3a96c6c6f5c75710258010000006971035d7104284b004bff4dffff4affffffff4affffff7f4a000000804c313039393531313632373737364c0a4c2d393232333337323033363835343737353830384c0a4c313236373635303630303232383232393430313439363730333230353337364c0a4c2d313138303539313632303731373431313330333432344c0a655801000000667105473f589374bc6a7efa5801000000747106284b01747107580200000074327108284b014b0274710958020000007433710a284b014b024b0374710b58020000007434710c284b014b024b034b0474710d58010000006e710e4e58020000007466710f5d7110284930310a4930300a6558030000007365747111635f5f6275696c74696e5f5f0a7365740a7112285d71134b0161747114527115580200000066737116635f5f6275696c74696e5f5f0a66726f7a656e7365740a7117285d71184b026174711952711a58020000006f64711b63636f6c6c656374696f6e730a4f726465726564446963740a711c2952711d580100000061711e4b01735806000000736861726564711f285d7120284b014b02656820747121752e",
	2: "80027d7100285801000000737101580800000068c3a96c6c6f5c75710258010000006971035d7104284b004bff4dffff4affffffff4affffff7f4a000000808a060000000000018a0800000000000000808a0d000000000000000000000000108a090000000000000000c0655801000000667105473f589374bc6a7efa58010000007471064b018571075802000000743271084b014b0286710958020000007433710a4b014b024b0387710b58020000007434710c284b014b024b034b0474710d58010000006e710e4e58020000007466710f5d71102888896558030000007365747111635f5f6275696c74696e5f5f0a7365740a71125d71134b0161857114527115580200000066737116635f5f6275696c74696e5f5f0a66726f7a656e7365740a71175d71184b026185711952711a58020000006f64711b63636f6c6c656374696f6e730a4f726465726564446963740a711c2952711d580100000061711e4b01735806000000736861726564711f5d7120284b014b02656820867121752e",
	3: "80037d7100285801000000737101580800000068c3a96c6c6f5c75710258010000006971035d7104284b004bff4dffff4affffffff4affffff7f4a000000808a060000000000018a0800000000000000808a0d000000000000000000000000108a090000000000000000c0655801000000667105473f589374bc6a7efa58010000007471064b018571075802000000743271084b014b0286710958020000007433710a4b014b024b0387710b58020000007434710c284b014b024b034b0474710d58010000006e710e4e58020000007466710f5d71102888896558030000007365747111636275696c74696e730a7365740a71125d71134b0161857114527115580200000066737116636275696c74696e730a66726f7a656e7365740a71175d71184b026185711952711a58020000006f64711b63636f6c6c656374696f6e730a4f726465726564446963740a711c2952711d580100000061711e4b01735806000000736861726564711f5d7120284b014b02656820867121752e",
	4: "80049503010000000000007d94288c0173948c0868c3a96c6c6f5c75948c0169945d94284b004bff4dffff4affffffff4affffff7f4a000000808a060000000000018a0800000000000000808a0d000000000000000000000000108a090000000000000000c0658c016694473f589374bc6a7efa8c0174944b0185948c027432944b014b0286948c027433944b014b024b0387948c02743494284b014b024b034b0474948c016e944e8c027466945d94288889658c03736574948f94284b01908c02667394284b0291948c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c0161944b01738c06736861726564945d94284b014b0265681c8694752e",
	5: "80059503010000000000007d94288c0173948c0868c3a96c6c6f5c75948c0169945d94284b004bff4dffff4affffffff4affffff7f4a000000808a060000000000018a0800000000000000808a0d000000000000000000000000108a090000000000000000c0658c016694473f589374bc6a7efa8c0174944b0185948c027432944b014b0286948c027433944b014b024b0387948c02743494284b014b024b034b0474948c016e944e8c027466945d94288889658c03736574948f94284b01908c02667394284b0291948c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c0161944b01738c06736861726564945d94284b014b0265681c8694752e",
}

const pythonPicklesRepr = `{"f": 0.0015, "fs": {2}, "i": [0, 255, 65535, -1, 2147483647, -2147483648, 1099511627776, -9223372036854775808, 1267650600228229401496703205376, -1180591620717411303424], "n": None, "od": {"a": 1}, "s": "héllo\\u", "set": {1}, "shared": ([1, 2], [1, 2]), "t": (1,), "t2": (1, 2), "t3": (1, 2, 3), "t4": (1, 2, 3, 4), "tf": [True, False]}`

func TestUnpicklePython(t *testing.T) {
	for proto := 0; proto <= 5; proto++ {
		data, err := hex.DecodeString(pythonPickles[proto])
		if err != nil {
			t.Fatal(err)
		}
		v, err := unpickle(data, nil)
		if err != nil {
			t.Fatalf("protocol %d: %v", proto, err)
		}
		if got := pyRepr(v); got != pythonPicklesRepr {
			t.Errorf("protocol %d:\n got %s\nwant %s", proto, got, pythonPicklesRepr)
		}
		shared, _ := v.(*pyDict).get("shared")
		if it := shared.(*pyTuple).items; it[0] != it[1] {
			t.Errorf("protocol %d: memoized list not shared", proto)
		}
	}
}

func TestUnpickleOpcodes(t *testing.T) {
	for _, tc := range []struct {
		name, pickle, want string
	}{
		{"binfloat", "\x80\x02G\x3f\xf8\x00\x00\x00\x00\x00\x00.", "1.5"},
		{"bytes", "\x80\x03C\x02ab.", `b"ab"`},
		{"binbytes8", "\x80\x04\x8e\x01\x00\x00\x00\x00\x00\x00\x00z.", `b"z"`},
		{"bytearray8", "\x80\x05\x96\x01\x00\x00\x00\x00\x00\x00\x00z.", `b"z"`},
		{"binunicode8", "\x80\x04\x8d\x02\x00\x00\x00\x00\x00\x00\x00hi.", `"hi"`},
		{"stackglobal", "\x80\x04\x8c\x03mod\x94\x8c\x04Name\x94\x93\x94)\x81.", "mod.Name()"},
		{"newobj_ex", "\x80\x04\x8c\x03mod\x8c\x01C\x93)}\x92.", "mod.C()"},
		{"long4", "\x80\x02\x8b\x02\x00\x00\x00\xff\x7f.", "32767"},
		{"long1-neg", "\x80\x02\x8a\x01\xfe.", "-2"},
		{"long1-zero", "\x80\x02\x8a\x00.", "0"},
		{"pop-dup", "\x80\x02K\x01K\x020\x32\x86.", "(1, 1)"},
		{"pop-mark", "\x80\x02K\x07(K\x01K\x021.", "7"},
		{"dict-setitem", "\x80\x02(U\x01aK\x01d\x8c\x01bK\x02s.", `{"a": 1, "b": 2}`},
		{"append", "\x80\x02]K\x01a.", "[1]"},
		{"inst", "(K\x01imod\nC\n.", "mod.C(1,)"},
		{"obj", "(cmod\nC\nK\x02o.", "mod.C(2,)"},
		{"build-object", "\x80\x02cmod\nC\n)\x81}(X\x01\x00\x00\x00xK\x05ub.", "mod.C()"},
		{"restore_type_tag", "\x80\x02ctorch.jit._pickle\nrestore_type_tag\n]K\x01aX\x01\x00\x00\x00L\x86R.", "[1]"},
		{"readonly", "\x80\x05C\x01a\x98.", `b"a"`},
		{"frame", "\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N.", "None"},
		{"int-text", "I-12\n.", "-12"},
		{"long-text", "L123456789012345678901234567890L\n.", "123456789012345678901234567890"},
		{"float-text", "F2.5\n.", "2.5"},
		{"get-put", "K\x03p7\n0g7\n.", "3"},
		{"memoize", "\x80\x04K\x09\x940h\x00.", "9"},
		{"long-binput", "K\x03r\x05\x00\x00\x000j\x05\x00\x00\x00.", "3"},
	} {
		v, err := unpickle([]byte(tc.pickle), nil)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := pyRepr(v); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestUnpickleErrors(t *testing.T) {
	for _, tc := range []struct {
		name, pickle string
		is           error
		want         string
	}{
		{"unknown", "\x80\x02\xff", ErrUnsupported, "opcode 0xff at offset 2"},
		{"ext1", "\x80\x02\x82\x01.", ErrUnsupported, "opcode 0x82 at offset 2"},
		{"string", "S'a'\n.", ErrUnsupported, `opcode 0x53 ('S') at offset 0`},
		{"proto", "\x80\x09.", ErrCorrupt, "unsupported pickle protocol 9"},
		{"underflow", "\x80\x02t.", ErrCorrupt, "no MARK"},
		{"underflow2", "\x80\x02(\x85.", ErrCorrupt, "stack underflow"},
		{"memo", "\x80\x02h\x05.", ErrCorrupt, "memo key 5 not set"},
		{"nostop", "\x80\x02K\x01", ErrCorrupt, "no STOP opcode"},
		{"truncated", "\x80\x02X\xff\xff\xff\x7fab", ErrCorrupt, "length 2147483647 exceeds the 2 bytes left"},
		{"binunicode8", "\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xff.", ErrCorrupt, "exceeds"},
		{"long4", "\x80\x02\x8b\xff\xff\xff\xff.", ErrCorrupt, "LONG4 length -1"},
		{"append", "\x80\x02K\x01K\x02a.", ErrCorrupt, "append to int"},
		{"setitems", "\x80\x02](K\x01K\x02u.", ErrCorrupt, "set item on list"},
		{"odd", "\x80\x02}(K\x01u.", ErrCorrupt, "odd number of items"},
		{"reduce", "\x80\x02K\x01)R.", ErrCorrupt, "calling int, not a global"},
		{"persid", "\x80\x02K\x01Q.", ErrCorrupt, "persistent id without a loader"},
		{"line", "cmod", ErrCorrupt, "unterminated line"},
	} {
		_, err := unpickle([]byte(tc.pickle), nil)
		if err == nil || !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %v containing %q", tc.name, err, tc.is, tc.want)
		}
	}
}

func TestTorchPickleErrors(t *testing.T) {
	for _, tc := range []struct {
		name, pickle, want string
	}{
		{"pid", "\x80\x02K\x01Q.", "persistent id int is not a ('storage'"},
		{"storage-class", "\x80\x02(X\x07\x00\x00\x00storageK\x01X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ.", "storage type is int"},
		{"rebuild", "\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x01K\x00tR.", "needs at least 4 arguments"},
	} {
		_, err := unpickle([]byte(tc.pickle), torchPersistentLoad)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	// A pickled Python module (not a state dict) is refused by name.
	root, err := unpickle([]byte("\x80\x02cclip.model\nCLIP\n)\x81."), torchPersistentLoad)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := collectTensors(root); err == nil || !strings.Contains(err.Error(), "pickled clip.model.CLIP object") {
		t.Errorf("module root: %v", err)
	}
}
