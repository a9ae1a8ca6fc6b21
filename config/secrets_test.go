package config_test

// Invalid values of the password-file and TLS variables (issue 11). They are
// appended to badCases so the shared tests cover them.
func init() {
	badCases = append(badCases,
		badCase{m("DB_PASSWORD_FILE", "/nonexistent/pw"), "DB_PASSWORD_FILE", "cannot read /nonexistent/pw"},
		badCase{m("DB_TLS_CA_FILE", "/nonexistent/ca.crt"), "DB_TLS_CA_FILE", "cannot read"},
		badCase{m("DB_TLS_CERT_FILE", "/nonexistent/c.crt", "DB_TLS_KEY_FILE", "/dev/null"), "DB_TLS_CERT_FILE", "cannot read"},
		badCase{m("DB_TLS_KEY_FILE", "/dev/null"), "DB_TLS_CERT_FILE", "is required with DB_TLS_KEY_FILE"},
		badCase{m("DB_TLS_CERT_FILE", "/dev/null"), "DB_TLS_KEY_FILE", "is required with DB_TLS_CERT_FILE"},
		badCase{m("DB_TLS_SERVER_NAME", "db host"), "DB_TLS_SERVER_NAME", "must be a host name or IP address"},
		badCase{m("REDIS_PASSWORD_FILE", "/nonexistent/pw"), "REDIS_PASSWORD_FILE", "cannot read"},
		badCase{m("REDIS_CACHE_SECRET_FILE", "/nonexistent/key"), "REDIS_CACHE_SECRET_FILE", "cannot read /nonexistent/key"},
		badCase{m("REDIS_CACHE_SECRET_FILE", "/dev/null"), "REDIS_CACHE_SECRET_FILE", "needs at least 16"},
		badCase{m("REDIS_TLS_CA_FILE", "/dev/null"), "REDIS_TLS_CA_FILE", "needs a rediss:// URL"},
		badCase{m("REDIS_TLS_CERT_FILE", "/dev/null", "REDIS_TLS_KEY_FILE", "/nonexistent/k", "REDIS_URL", "rediss://h:6380/0"), "REDIS_TLS_KEY_FILE", "cannot read"},
		badCase{m("REDIS_TLS_SERVER_NAME", "cache.internal", "REDIS_URL", "redis://h:6379/0"), "REDIS_TLS_SERVER_NAME", "needs a rediss:// URL"},
		badCase{m("SURREALDB_PASSWORD_FILE", "/nonexistent/pw"), "SURREALDB_PASSWORD_FILE", "cannot read"},
		badCase{m("SURREALDB_URL", "ws://h:8000", "SURREALDB_TLS_CA_FILE", "/dev/null"), "SURREALDB_TLS_CA_FILE", "needs a wss:// or https:// URL"},
		badCase{m("SURREALDB_TLS_CERT_FILE", "/nonexistent/c", "SURREALDB_TLS_KEY_FILE", "/dev/null"), "SURREALDB_TLS_CERT_FILE", "cannot read"},
		badCase{m("REDIS_TLS_KEY_FILE", "/dev/null", "REDIS_URL", "rediss://h:6380/0"), "REDIS_TLS_CERT_FILE", "is required with REDIS_TLS_KEY_FILE"},
		badCase{m("SURREALDB_TLS_KEY_FILE", "/nonexistent/k", "SURREALDB_TLS_CERT_FILE", "/dev/null"), "SURREALDB_TLS_KEY_FILE", "cannot read"},
		badCase{m("SURREALDB_TLS_SERVER_NAME", "a/b"), "SURREALDB_TLS_SERVER_NAME", "must be a host name"},
	)
}
