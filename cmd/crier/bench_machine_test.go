package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCPUInfo(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"a hypervisor's bare name, with its generation", `processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 26
model		: 2
model name	: AMD EPYC
flags		: fpu vme

processor	: 1
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 1
model name	: AMD EPYC 7B13
`, "AMD EPYC (family 26, model 2)"},
		{"the first processor only, whatever order its fields come in", `processor	: 0
model name	: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz
model		: 106
cpu family	: 6

processor	: 1
model name	: Another CPU
`, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz (family 6, model 106)"},
		{"a name without numbers", "model name\t: Some CPU\n", "Some CPU"},
		{"an ARM machine names no model", "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n", ""},
		{"nothing", "", ""},
	} {
		require.Equal(t, tc.want, parseCPUInfo(tc.text), tc.name)
	}
}
