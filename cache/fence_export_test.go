package cache

// FenceGeneration returns how many loss events (lost connections, breaker
// openings) the reconnect fence has counted. Tests only.
func FenceGeneration(c *Cache) uint64 { return c.fence.gen.Load() }

// FenceRenewals returns how many epoch renewals this Cache sent. Tests only.
func FenceRenewals(c *Cache) int64 { return c.fence.renewals.Load() }
