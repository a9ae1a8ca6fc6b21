package backup_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/agentical/datalayer/backup"
)

// Backups go to S3 through gocloud's s3blob and the real AWS SDK, served
// in-process by gofakes3: create, list, verify, restore and prune.
func TestS3Store(t *testing.T) {
	t.Parallel()
	mem := s3mem.New()
	if err := mem.CreateBucket("backups"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(mem).Server())
	t.Cleanup(srv.Close)

	e := newEnv(t, true)
	seedUsers(t, e.dsn, 25)
	surrealQuery(t, surrealDB(t, e.sur, e.sur.Database), "CREATE person:1 SET name = 'ada'")
	cfg := e.config()
	// anonymous: gofakes3 checks no signature, and no credential chain
	// (environment, IMDS) is consulted.
	cfg.URL = "s3://backups?region=us-east-1&endpoint=" + srv.URL + "&use_path_style=true&disable_https=true&anonymous=true&prefix=team-a/"
	cfg.KeepDaily = 1
	m := newManager(t, cfg)
	first, err := m.Create(t.Context(), backup.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Objects really are in the S3 bucket under the prefix.
	objs, err := mem.ListBucket("backups", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs.Contents {
		keys = append(keys, o.Key)
	}
	if len(keys) != 3 || !strings.HasPrefix(keys[0], "team-a/backups/"+first.ID+"/") {
		t.Fatalf("bucket holds %v", keys)
	}
	if rep, err := m.Verify(t.Context(), first.ID, backup.VerifyOptions{Restore: true}); err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	exec(t, connect(t, e.dsn), "DELETE FROM users")
	if _, err := m.Restore(t.Context(), first.ID, backup.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(userEmails(t, e.dsn)); n != 25 {
		t.Fatalf("after restore from S3: %d users", n)
	}
	time.Sleep(5 * time.Millisecond)
	second, err := m.Create(t.Context(), backup.CreateOptions{Stores: []string{backup.StorePostgres}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Prune(t.Context(), backup.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 1 || res.Deleted[0] != first.ID {
		t.Fatalf("prune %+v", res)
	}
	all, err := m.List(t.Context())
	if err != nil || len(all) != 1 || all[0].ID != second.ID {
		t.Fatalf("after prune: %v, %v", all, err)
	}
	objs, _ = mem.ListBucket("backups", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if len(objs.Contents) != 2 {
		t.Fatalf("after prune the bucket holds %d objects, want 2", len(objs.Contents))
	}
}
