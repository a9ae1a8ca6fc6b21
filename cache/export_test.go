package cache

import "context"

// SetBeforeFill installs a hook that runs in the fill goroutine after the
// load and before the version check and SET. Tests only.
func SetBeforeFill(c *Cache, f func(valueKey string)) {
	if f == nil {
		c.hooks.beforeFill.Store(nil)
		return
	}
	c.hooks.beforeFill.Store(&f)
}

// WaitBackground waits for background fills and refreshes. Tests only.
func WaitBackground(c *Cache) { c.wg.Wait() }

// ValueKey returns the Redis key Get would use for key right now (reading
// versions from Redis). Tests only.
func ValueKey(c *Cache, k Key) (string, error) {
	vers, _, err := c.readVersions(context.Background(), c.depKeys(k.Deps), true)
	if err != nil {
		return "", err
	}
	return c.valueKey(c.tag(k, vers)), nil
}
