# HTTP middleware, telemetry and the /debug/datalayer page (packages httpmw, telemetry, debugpage).

.PHONY: test-http test-page
test-http: ## tests of httpmw, telemetry and debugpage (real PostgreSQL + Redis; the page test needs chromium)
	$(GO) test -count=1 ./reqctx ./httpmw ./telemetry ./debugpage

test-page: ## headless-chromium test of /debug/datalayer; keeps the screenshot under $TEST_ARTIFACTS_DIR (default /tmp/datalayer-artifacts)
	TEST_ARTIFACTS_DIR=$${TEST_ARTIFACTS_DIR:-/tmp/datalayer-artifacts} $(GO) test -count=1 -v -run TestPageInHeadlessBrowser ./debugpage
