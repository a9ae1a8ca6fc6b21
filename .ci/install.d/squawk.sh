# squawk-cli: PostgreSQL migration linter, the reference the migrate tests
# compare our lint against (migrate/zerodowntime_test.go). Idempotent.
if ! command -v squawk >/dev/null 2>&1 || [ "$(squawk --version 2>/dev/null | awk '{print $2}')" != "2.66.0" ]; then
	log "installing squawk-cli@2.66.0"
	npm install -g --silent squawk-cli@2.66.0 >/dev/null
fi
