package etag

import "testing"

func TestCache(t *testing.T) {
	var c Cache[[]int]
	if _, _, ok := c.Get("pulls", "/pulls?page=1"); ok {
		t.Fatal("an empty cache had an answer")
	}
	c.Put("pulls", "/pulls?page=1", `"a"`, []int{1, 2})
	if tag, v, ok := c.Get("pulls", "/pulls?page=1"); !ok || tag != `"a"` || len(v) != 2 {
		t.Errorf("Get = %q, %v, %v; want the answer kept", tag, v, ok)
	}
	// The slot's query moved on: the old answer is no answer to it.
	if _, _, ok := c.Get("pulls", "/pulls?since=later"); ok {
		t.Error("an answer was reused for another URL")
	}
	c.Put("pulls", "/pulls?since=later", `"b"`, []int{3})
	if _, _, ok := c.Get("pulls", "/pulls?page=1"); ok {
		t.Error("a slot kept two answers")
	}
	if _, _, ok := c.Get("comments", "/pulls?since=later"); ok {
		t.Error("slots share answers")
	}
	c.Put("pulls", "/pulls?since=later", "", nil)
	if _, _, ok := c.Get("pulls", "/pulls?since=later"); ok {
		t.Error("an answer without an ETag was kept")
	}
}
