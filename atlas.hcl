# Atlas project file, read by `datalayer migrate` (migrate.LoadProject)
# and compatible with the Atlas CLI for the attributes used here.
#
# dev: a PostgreSQL server where throwaway databases are created and dropped.
# Left empty (DATALAYER_DEV_URL unset), the tool starts its own server from
# the local PostgreSQL binaries, so `go generate ./...` needs no setup.

# Policy for the files `migrate diff` writes (zero downtime, on by default):
# indexes on existing tables built CONCURRENTLY in their own txmode none
# file, FOREIGN KEY / CHECK added NOT VALID and validated in a later file,
# UNIQUE via a concurrent unique index + USING INDEX, SET NOT NULL proved by
# a validated CHECK, volatile defaults backfilled, and SET LOCAL lock_timeout
# (RESET in txmode none files) so nothing leaks into pooled connections.
diff {
  zero_downtime = true
  lock_timeout  = "5s"
}

lint {
  # Files to lint by default: the latest one. CI passes --git-base.
  latest = 1

  # Policy: error = true fails the run, false reports a warning.
  destructive   { error = true }   # DS1xx: drops that lose data
  data_depend   { error = false }  # MF1xx: may fail depending on data
  incompatible  { error = false }  # BC1xx: renames that break old clients
  condrop       { error = false }  # CD101
  zero_downtime { error = true }   # DL1xx: locks and rewrites on live tables
  types         { error = false }  # DL2xx: varchar(n), int, serial, timestamp, char
  data          { error = true }   # DL3xx: lint --against DATABASE_URL data checks
  rename        { error = true }   # RN101: rename written as drop + add

  # Per-code overrides: skip, warn, fail.
  skip = []
}

env "local" {
  src = "file://schema"
  dev = getenv("DATALAYER_DEV_URL")
  url = getenv("DATABASE_URL")
  migration {
    dir              = "file://migrations"
    revisions_schema = "atlas_schema_revisions"
    lock_timeout     = "1m"
  }
}

env "ci" {
  src = "file://schema"
  dev = getenv("DATALAYER_DEV_URL")
  url = getenv("DATABASE_URL")
  migration {
    dir = "file://migrations"
  }
  lint {
    git {
      base = "origin/main"
    }
  }
}
