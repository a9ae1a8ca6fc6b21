package cache

import (
	"context"
	"errors"
	"time"
)

// SetBeforeFill installs a hook that runs in the fill goroutine after the
// load and before the version check and SET. Tests only.
func SetBeforeFill(c *Cache, f func(valueKey string)) {
	if f == nil {
		c.hooks.beforeFill.Store(nil)
		return
	}
	c.hooks.beforeFill.Store(&f)
}

// SetAfterFillCheck installs a hook that runs in the fill goroutine after
// its version check passed and before its SET. Tests only.
func SetAfterFillCheck(c *Cache, f func(valueKey string)) {
	if f == nil {
		c.hooks.afterFillCheck.Store(nil)
		return
	}
	c.hooks.afterFillCheck.Store(&f)
}

// HoldVersionPushes makes invalidation pushes reach the version memo only
// when the returned function is called (a push still in flight). Tests
// only.
func HoldVersionPushes(c *Cache) (release func()) { return c.vmemo.hold() }

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

// offline is a Cache with no Redis: only its codec and MAC, for fuzzing
// the value decoding.
func offline(secret []byte) *Cache {
	return &Cache{codec: NewCodec(0), mac: newMacer(secret), cfg: Config{NotFoundError: errNotFound}}
}

var errNotFound = errors.New("not found")

// SealValue encodes v as Get would store it under value key vk.
func SealValue(secret []byte, vk string, v any, negative bool) ([]byte, error) {
	return offline(secret).seal(vk, v, negative, time.Unix(0, 0))
}

// OpenValue decodes data found under vk as Get would: ok is false when Get
// would treat it as a miss.
func OpenValue[T any](secret []byte, vk string, data []byte) (v T, negative, ok bool) {
	c := offline(secret)
	env, err := c.openEnvelope(vk, data)
	if err != nil {
		return v, false, false
	}
	if env.negative {
		return v, true, true
	}
	if err := c.codec.Unmarshal(env.payload, &v); err != nil {
		return v, false, false
	}
	return v, false, true
}

// ValueChecker returns the integrity check Get applies to a value from
// Redis.
func ValueChecker(secret []byte) func(vk string, data []byte) error {
	c := offline(secret)
	return func(vk string, data []byte) error {
		_, err := c.openEnvelope(vk, data)
		return err
	}
}

// CheckMsgpack is the structural check Unmarshal runs before decoding.
func CheckMsgpack(b []byte) error { return checkMsgpack(b) }
