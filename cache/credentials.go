package cache

import (
	"fmt"
	"os"
	"strings"

	"github.com/redis/rueidis"
)

// credentialsFn returns rueidis' per-connection AUTH hook for
// Config.Credentials or Config.PasswordFile, or nil for static credentials.
func (cfg Config) credentialsFn() func(rueidis.AuthCredentialsContext) (rueidis.AuthCredentials, error) {
	switch {
	case cfg.Credentials != nil:
		get := cfg.Credentials
		return func(rueidis.AuthCredentialsContext) (rueidis.AuthCredentials, error) {
			user, pass, err := get()
			if err != nil {
				return rueidis.AuthCredentials{}, fmt.Errorf("cache: redis credentials: %w", err)
			}
			return rueidis.AuthCredentials{Username: user, Password: pass}, nil
		}
	case cfg.PasswordFile != "":
		user, file := cfg.Username, cfg.PasswordFile
		return func(rueidis.AuthCredentialsContext) (rueidis.AuthCredentials, error) {
			pass, err := readPasswordFile(file)
			if err != nil {
				return rueidis.AuthCredentials{}, err
			}
			return rueidis.AuthCredentials{Username: user, Password: pass}, nil
		}
	}
	return nil
}

// readPasswordFile returns the first line of path; errors name the file,
// never its content.
func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cache: redis password file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("cache: redis password file %s: first line is empty", path)
	}
	return line, nil
}
