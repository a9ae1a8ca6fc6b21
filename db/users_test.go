package db_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/db"
)

func TestUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q

	u := must[db.User](t)(q.CreateUser(ctx, db.CreateUserParams{Email: "Alice@Example.COM", DisplayName: "Alice", Role: db.UserRoleAdmin}))
	if u.ID == uuid.Nil {
		t.Fatal("CreateUser returned a nil id")
	}
	eq(t, "email (lower-cased by the query)", u.Email, "alice@example.com")
	eq(t, "display name", u.DisplayName, "Alice")
	eq(t, "role", u.Role, db.UserRoleAdmin)
	eq(t, "is_active default", u.IsActive, true)
	if u.CreatedAt.IsZero() || !u.CreatedAt.Equal(u.UpdatedAt) {
		t.Errorf("created_at %v, updated_at %v: want equal non-zero defaults", u.CreatedAt, u.UpdatedAt)
	}

	t.Run("GetUser", func(t *testing.T) {
		got := must[db.User](t)(q.GetUser(ctx, u.ID))
		eq(t, "GetUser", got, u)
		_, err := q.GetUser(ctx, uuid.New())
		wantNotFound(t, err)
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Errorf("not-found error %v does not keep pgx.ErrNoRows", err)
		}
	})
	t.Run("GetUserByEmail is case-insensitive", func(t *testing.T) {
		got := must[db.User](t)(q.GetUserByEmail(ctx, "ALICE@example.com"))
		eq(t, "id", got.ID, u.ID)
		_, err := q.GetUserByEmail(ctx, "nobody@example.com")
		wantNotFound(t, err)
	})
	t.Run("unique email", func(t *testing.T) {
		_, err := q.CreateUser(ctx, db.CreateUserParams{Email: "ALICE@example.com", DisplayName: "Other", Role: db.UserRoleMember})
		wantConstraint(t, err, postgres.ErrConflict, "users_email_key")
		if !postgres.IsConflict(err) {
			t.Error("postgres.IsConflict = false")
		}
		if bytes.Contains([]byte(err.Error()), []byte("alice@example.com")) {
			t.Errorf("conflict message leaks the value: %v", err)
		}
	})
	t.Run("check display name", func(t *testing.T) {
		_, err := q.CreateUser(ctx, db.CreateUserParams{Email: "blank@example.com", DisplayName: "   ", Role: db.UserRoleMember})
		wantConstraint(t, err, postgres.ErrCheck, "users_display_name_not_blank")
	})
	t.Run("UpdateUserRole", func(t *testing.T) {
		n, err := q.UpdateUserRole(ctx, db.UpdateUserRoleParams{ID: u.ID, Role: db.UserRoleViewer})
		affected(t, "UpdateUserRole", n, err, 1)
		got := must[db.User](t)(q.GetUser(ctx, u.ID))
		eq(t, "role", got.Role, db.UserRoleViewer)
		if !got.UpdatedAt.After(u.UpdatedAt) {
			t.Errorf("updated_at %v not after %v", got.UpdatedAt, u.UpdatedAt)
		}
		n, err = q.UpdateUserRole(ctx, db.UpdateUserRoleParams{ID: uuid.New(), Role: db.UserRoleViewer})
		affected(t, "UpdateUserRole(unknown)", n, err, 0)
	})
	t.Run("DeactivateUser", func(t *testing.T) {
		v := mkUser(t, e, "deact@example.com")
		n, err := q.DeactivateUser(ctx, v.ID)
		affected(t, "DeactivateUser", n, err, 1)
		eq(t, "is_active", must[db.User](t)(q.GetUser(ctx, v.ID)).IsActive, false)
		n, err = q.DeactivateUser(ctx, v.ID)
		affected(t, "DeactivateUser(again)", n, err, 0)
	})
}

func TestListUsersKeyset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var want []db.User
	for _, m := range []string{"a", "b", "c", "d", "e"} {
		want = append(want, mkUser(t, e, m+"@example.com"))
	}
	// Two users sharing created_at prove the id tie-breaker.
	exec(t, e, `UPDATE users SET created_at = $1 WHERE id = ANY($2)`,
		want[1].CreatedAt, []uuid.UUID{want[1].ID, want[2].ID})
	want[2].CreatedAt = want[1].CreatedAt
	slices.SortFunc(want, func(a, b db.User) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})

	var got []db.User
	var sizes []int
	after := db.ListUsersParams{AfterCreatedAt: time.Unix(0, 0), AfterID: uuid.Nil, PageSize: 2}
	for range 10 {
		page := must[[]db.User](t)(e.Q.ListUsers(ctx, after))
		sizes = append(sizes, len(page))
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		last := page[len(page)-1]
		after.AfterCreatedAt, after.AfterID = last.CreatedAt, last.ID
	}
	eq(t, "page sizes", sizes, []int{2, 2, 1, 0})
	eq(t, "order across pages", ids(got, func(u db.User) uuid.UUID { return u.ID }), ids(want, func(u db.User) uuid.UUID { return u.ID }))
	eq(t, "email of first row", got[0].Email, want[0].Email)
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	u := mkUser(t, e, "keys@example.com")
	hash := sha256.Sum256([]byte("secret-key-material"))
	k := must[db.ApiKey](t)(q.CreateAPIKey(ctx, db.CreateAPIKeyParams{
		UserID: u.ID, Name: "ci", Prefix: "ab12CD34", KeyHash: hash[:], Scopes: []string{"read", "write"},
	}))
	eq(t, "prefix", k.Prefix, "ab12CD34")
	eq(t, "hash", k.KeyHash, hash[:])
	eq(t, "scopes", k.Scopes, []string{"read", "write"})
	if k.ExpiresAt != nil || k.LastUsedAt != nil || k.RevokedAt != nil {
		t.Errorf("new key has timestamps set: %+v", k)
	}

	live := must[db.GetLiveAPIKeyByPrefixRow](t)(q.GetLiveAPIKeyByPrefix(ctx, "ab12CD34"))
	eq(t, "live key id", live.ID, k.ID)
	eq(t, "joined user role", live.UserRole, db.UserRoleMember)
	eq(t, "joined user active", live.UserIsActive, true)
	eq(t, "live key hash", live.KeyHash, hash[:])
	_, err := q.GetLiveAPIKeyByPrefix(ctx, "zz99zz99")
	wantNotFound(t, err)

	// Expired keys are not live; keys expiring later are.
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	h2 := sha256.Sum256([]byte("2"))
	expired := must[db.ApiKey](t)(q.CreateAPIKey(ctx, db.CreateAPIKeyParams{UserID: u.ID, Name: "old", Prefix: "expired01", KeyHash: h2[:], Scopes: []string{}, ExpiresAt: &past}))
	_, err = q.GetLiveAPIKeyByPrefix(ctx, "expired01")
	wantNotFound(t, err)
	h3 := sha256.Sum256([]byte("3"))
	later := must[db.ApiKey](t)(q.CreateAPIKey(ctx, db.CreateAPIKeyParams{UserID: u.ID, Name: "later", Prefix: "future01", KeyHash: h3[:], Scopes: []string{"read"}, ExpiresAt: &future}))
	eq(t, "future key live", must[db.GetLiveAPIKeyByPrefixRow](t)(q.GetLiveAPIKeyByPrefix(ctx, "future01")).ID, later.ID)

	t.Run("constraints", func(t *testing.T) {
		_, err := q.CreateAPIKey(ctx, db.CreateAPIKeyParams{UserID: u.ID, Name: "dup", Prefix: "ab12CD34", KeyHash: hash[:], Scopes: []string{}})
		wantConstraint(t, err, postgres.ErrConflict, "api_keys_prefix_key")
		_, err = q.CreateAPIKey(ctx, db.CreateAPIKeyParams{UserID: u.ID, Name: "short", Prefix: "shorthash", KeyHash: hash[:31], Scopes: []string{}})
		wantConstraint(t, err, postgres.ErrCheck, "api_keys_hash_is_sha256")
		_, err = q.CreateAPIKey(ctx, db.CreateAPIKeyParams{UserID: u.ID, Name: "bad", Prefix: "a-b", KeyHash: hash[:], Scopes: []string{}})
		wantConstraint(t, err, postgres.ErrCheck, "api_keys_prefix_format")
		_, err = q.CreateAPIKey(ctx, db.CreateAPIKeyParams{UserID: uuid.New(), Name: "orphan", Prefix: "orphan01", KeyHash: hash[:], Scopes: []string{}})
		wantConstraint(t, err, postgres.ErrForeignKey, "api_keys_user_fkey")
	})

	t.Run("TouchAPIKey", func(t *testing.T) {
		noErr(t, q.TouchAPIKey(ctx, k.ID))
		keys := must[[]db.ApiKey](t)(q.ListAPIKeysByUser(ctx, u.ID))
		i := slices.IndexFunc(keys, func(x db.ApiKey) bool { return x.ID == k.ID })
		if i < 0 || keys[i].LastUsedAt == nil || keys[i].LastUsedAt.Before(k.CreatedAt) {
			t.Fatalf("last_used_at not stamped: %+v", keys)
		}
	})

	t.Run("ListAPIKeysByUser and RevokeAPIKey", func(t *testing.T) {
		keys := must[[]db.ApiKey](t)(q.ListAPIKeysByUser(ctx, u.ID))
		eq(t, "keys (creation order)", ids(keys, func(k db.ApiKey) uuid.UUID { return k.ID }), []uuid.UUID{k.ID, expired.ID, later.ID})
		n, err := q.RevokeAPIKey(ctx, k.ID)
		affected(t, "RevokeAPIKey", n, err, 1)
		n, err = q.RevokeAPIKey(ctx, k.ID)
		affected(t, "RevokeAPIKey(again)", n, err, 0)
		_, err = q.GetLiveAPIKeyByPrefix(ctx, "ab12CD34")
		wantNotFound(t, err)
		keys = must[[]db.ApiKey](t)(q.ListAPIKeysByUser(ctx, u.ID))
		eq(t, "keys after revoke", ids(keys, func(k db.ApiKey) uuid.UUID { return k.ID }), []uuid.UUID{expired.ID, later.ID})
		eq(t, "revoked key kept", scalar[int64](t, e, `SELECT count(*) FROM api_keys WHERE id = $1 AND revoked_at IS NOT NULL`, k.ID), int64(1))
	})

	t.Run("DeleteUser cascades to keys", func(t *testing.T) {
		n, err := q.DeleteUser(ctx, u.ID)
		affected(t, "DeleteUser", n, err, 1)
		eq(t, "keys left", scalar[int64](t, e, `SELECT count(*) FROM api_keys WHERE user_id = $1`, u.ID), int64(0))
		_, err = q.GetUser(ctx, u.ID)
		wantNotFound(t, err)
		n, err = q.DeleteUser(ctx, u.ID)
		affected(t, "DeleteUser(again)", n, err, 0)
	})
}
