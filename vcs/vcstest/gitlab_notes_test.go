package vcstest_test

import (
	"slices"
	"strings"
	"testing"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

func TestGitLabNotes(t *testing.T) {
	t.Parallel()
	g, p := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	other := g.OpenPull(t, glRepo, vcstest.PullSpec{})

	n, resp, err := c.Notes.CreateMergeRequestNote(glRepo, 1, &gl.CreateMergeRequestNoteOptions{Body: gl.Ptr("Plan: 1 to add")})
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("CreateMergeRequestNote = %v, %v", n, err)
	}
	if n.ID == 0 || n.Author.Username != "atoll-bot" || n.Body != "Plan: 1 to add" || n.NoteableType != "MergeRequest" ||
		n.NoteableIID != 1 || n.CreatedAt == nil || n.UpdatedAt == nil || n.System || n.ProjectID == 0 || n.NoteableID == 0 {
		t.Errorf("note = %+v", n)
	}
	if _, _, err := c.Notes.UpdateMergeRequestNote(glRepo, 1, n.ID, &gl.UpdateMergeRequestNoteOptions{Body: gl.Ptr("No changes.")}); err != nil {
		t.Fatal(err)
	}
	if got, _, err := c.Notes.GetMergeRequestNote(glRepo, 1, n.ID); err != nil || got.Body != "No changes." {
		t.Errorf("GetMergeRequestNote = %v, %v", got, err)
	}
	if got := writtenNow(t, g.Comments(glRepo, 1)); len(got) != 1 || got[0] != (vcstest.Comment{ID: int64(n.ID), Author: "atoll-bot", Body: "No changes.", Edits: 1}) {
		t.Errorf("Comments = %+v", got)
	}

	// A note belongs to its merge request.
	if _, resp, err := c.Notes.GetMergeRequestNote(glRepo, other.Number, n.ID); glStatus(t, resp, err) != 404 {
		t.Errorf("note %d through merge request %d: %v", n.ID, other.Number, err)
	}
	if _, resp, err := c.Notes.UpdateMergeRequestNote(glRepo, other.Number, n.ID, &gl.UpdateMergeRequestNoteOptions{Body: gl.Ptr("x")}); glStatus(t, resp, err) != 404 {
		t.Errorf("updating note %d through merge request %d: %v", n.ID, other.Number, err)
	}

	// GitLab's limit, by characters, not bytes.
	if _, _, err := c.Notes.CreateMergeRequestNote(glRepo, 1, &gl.CreateMergeRequestNoteOptions{Body: gl.Ptr(strings.Repeat("é", 1_000_000))}); err != nil {
		t.Errorf("a note of 1,000,000 characters: %v", err)
	}
	tooLong := gl.Ptr(strings.Repeat("é", 1_000_001))
	_, resp, err = c.Notes.CreateMergeRequestNote(glRepo, 1, &gl.CreateMergeRequestNoteOptions{Body: tooLong})
	if glStatus(t, resp, err) != 400 || glMessage(err) != `400 Bad request - Note {:note=>["is too long (maximum is 1000000 characters)"]}` {
		t.Errorf("a note of 1,000,001 characters: %v", err)
	}
	_, resp, err = c.Notes.UpdateMergeRequestNote(glRepo, 1, n.ID, &gl.UpdateMergeRequestNoteOptions{Body: tooLong})
	if glStatus(t, resp, err) != 400 || glMessage(err) != `400 Bad request - Failed to save note {:note=>["is too long (maximum is 1000000 characters)"]}` {
		t.Errorf("editing a note to 1,000,001 characters: %v", err)
	}
	_, resp, err = c.Notes.CreateMergeRequestNote(glRepo, 1, &gl.CreateMergeRequestNoteOptions{})
	if glStatus(t, resp, err) != 400 || glMessage(err) != "body is missing" {
		t.Errorf("a note without a body: %v", err)
	}
	if got := g.Comments(glRepo, 1); len(got) != 2 || got[0].Body != "No changes." {
		t.Errorf("refused notes were kept: %d notes", len(got))
	}

	// Award emoji, once each.
	award, resp, err := c.AwardEmoji.CreateMergeRequestAwardEmojiOnNote(glRepo, 1, n.ID, &gl.CreateAwardEmojiOptions{Name: "eyes"})
	if err != nil || resp.StatusCode != 201 || award.Name != "eyes" || award.User.Username != "atoll-bot" ||
		award.AwardableID != n.ID || award.AwardableType != "Note" {
		t.Errorf("award = %+v, %v", award, err)
	}
	_, resp, err = c.AwardEmoji.CreateMergeRequestAwardEmojiOnNote(glRepo, 1, n.ID, &gl.CreateAwardEmojiOptions{Name: "eyes"})
	if glStatus(t, resp, err) != 404 { // go-gitlab drops the body of a 404
		t.Errorf("the same award twice: %v", err)
	}
	c.AwardEmoji.CreateMergeRequestAwardEmojiOnNote(glRepo, 1, n.ID, &gl.CreateAwardEmojiOptions{Name: "thumbsup"})
	if got := g.Awards(glRepo, 1, int64(n.ID)); !slices.Equal(got, []string{"eyes", "thumbsup"}) {
		t.Errorf("Awards = %q", got)
	}

	// A user's note, described by a webhook: served, not atoll's to edit.
	target, got := glReceiver(t)
	g.SendPullComment(t, target, p, "bob", "atoll plan")
	ev := (<-got).event.(*gl.MergeCommentEvent)
	id := ev.ObjectAttributes.ID
	un, _, err := c.Notes.GetMergeRequestNote(glRepo, 1, id)
	if err != nil || un.Author.Username != "bob" || un.Body != "atoll plan" {
		t.Errorf("the user's note = %+v, %v", un, err)
	}
	if _, resp, err := c.Notes.UpdateMergeRequestNote(glRepo, 1, id, &gl.UpdateMergeRequestNoteOptions{Body: gl.Ptr("x")}); glStatus(t, resp, err) != 403 {
		t.Errorf("editing the user's note: %v", err)
	}
	if _, resp, err := c.AwardEmoji.CreateMergeRequestAwardEmojiOnNote(glRepo, 1, id, &gl.CreateAwardEmojiOptions{Name: "eyes"}); err != nil || resp.StatusCode != 201 {
		t.Errorf("an award on the user's note: %v", err)
	}
	if len(g.Comments(glRepo, 1)) != 2 || len(g.AllComments()) != 2 {
		t.Errorf("Comments = %+v, AllComments = %+v; the user's note is not atoll's", g.Comments(glRepo, 1), g.AllComments())
	}
}
