# Headless browser for the /debug/datalayer page test (debugpage, chromedp).
# Sourced by .ci/run as root; idempotent.
if ! command -v chromium >/dev/null 2>&1; then
	log "installing: chromium"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq chromium >/dev/null
fi
