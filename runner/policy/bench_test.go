package policy

import "testing"

// BenchmarkCheck1000 evaluates both test policy sets on the real plan of
// 1,000 resources: the time a policy check adds to a large plan.
func BenchmarkCheck1000(b *testing.B) {
	c, err := Load(b.Context(), []Set{
		{Name: "conftest", Path: "testdata/conftest"},
		{Name: "limits", Path: "testdata/v1", Namespaces: []string{"terraform.limits"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	plan := planJSON(b, "resource \"terraform_data\" \"r\" {\n  count = 1000\n  input = \"ok-${count.index}\"\n}\n")
	b.SetBytes(int64(len(plan)))
	for b.Loop() {
		res, err := c.Check(b.Context(), plan)
		if err != nil || len(res) != 2 || len(res[0].Warnings) != 1 {
			b.Fatalf("Check = %+v, %v", res, err)
		}
	}
}
