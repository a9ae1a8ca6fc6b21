# pgaudit (statement-level audit logging) for the audit tests in postgres/.
# Sourced by .ci/run as root; idempotent.
if ! compgen -G '/usr/lib/postgresql/*/lib/pgaudit.so' >/dev/null; then
	pgver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
	log "installing postgresql-${pgver:-15}-pgaudit"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "postgresql-${pgver:-15}-pgaudit" >/dev/null
fi
