package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/config"
)

func TestBackupFromMap(t *testing.T) {
	c, err := config.BackupFromMap(map[string]string{
		"BACKUP_ENABLED":         "true",
		"AUTO_BACKUP_ENABLED":    "true",
		"BACKUP_DIR":             "/var/backups/dl",
		"BACKUP_URL":             "s3://bucket?region=eu-west-1",
		"BACKUP_INTERVAL_HOURS":  "6",
		"BACKUP_COMPRESSION":     "none",
		"BACKUP_AGE_RECIPIENTS":  "age1aaa, age1bbb",
		"BACKUP_PASSPHRASE_FILE": "",
		"BACKUP_KEEP_DAILY":      "7",
		"BACKUP_KEEP_WEEKLY":     "4",
		"BACKUP_KEEP_MONTHLY":    "12",
		"DATABASE_URL":           "postgres://u:secretpw@db/app",
		"SURREALDB_URL":          "ws://s:8000",
		"SURREALDB_PASSWORD":     "surrealsecret",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Enabled || !c.AutoEnabled || !c.SchedulerWanted() || c.Dir != "/var/backups/dl" || c.URL != "s3://bucket?region=eu-west-1" ||
		c.Interval != 6*time.Hour || c.Compression != "none" || len(c.AgeRecipients) != 2 || c.AgeRecipients[1] != "age1bbb" ||
		c.KeepDaily != 7 || c.KeepWeekly != 4 || c.KeepMonthly != 12 || c.SurrealNamespace != "agentical" || c.SurrealDatabase != "main" {
		t.Fatalf("mapped %+v", c)
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "secretpw") || strings.Contains(s, "surrealsecret") {
			t.Fatalf("printed config leaks a password: %s", s)
		}
	}
}

func TestBackupFromMapErrorsNameTheVariable(t *testing.T) {
	for vars, want := range map[string]string{
		"BACKUP_INTERVAL_HOURS=0": "BACKUP_INTERVAL_HOURS",
		"BACKUP_KEEP_WEEKLY=-1":   "BACKUP_KEEP_WEEKLY",
		"AUTO_BACKUP_ENABLED=yes": "AUTO_BACKUP_ENABLED",
		"BACKUP_COMPRESSION=lz4":  "BACKUP_COMPRESSION",
		"BACKUP_JOBS=many":        "BACKUP_JOBS",
	} {
		k, v, _ := strings.Cut(vars, "=")
		_, err := config.BackupFromMap(map[string]string{k: v})
		errs := config.Errors(err)
		if len(errs) != 1 || errs[0].Var != want {
			t.Errorf("%s: errors %v, want one naming %s", vars, err, want)
		}
	}
	_, err := config.BackupFromMap(map[string]string{"BACKUP_AGE_RECIPIENTS": "age1x", "BACKUP_PASSPHRASE_FILE": "/p"})
	if err == nil || !strings.Contains(err.Error(), "BACKUP_PASSPHRASE_FILE") {
		t.Errorf("recipients + passphrase: %v", err)
	}
}
