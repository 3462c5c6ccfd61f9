package main

import (
	"net/url"
	"strings"
)

// redacted replaces a password wherever a connection string is shown.
const redacted = "*****"

// unparsableDSN is shown for a connection string whose passwords cannot be
// told apart: all of it is hidden.
const unparsableDSN = "(connection string hidden: it does not parse)"

// redactDSN returns a PostgreSQL connection string, URL or keyword/value,
// with every password in it (the URL's user info, and password= or
// sslpassword= in the query or as a keyword) replaced by *****, for logs
// and errors. A string it cannot take apart is hidden whole.
func redactDSN(dsn string) string {
	s, _, ok := splitSecrets(dsn)
	if !ok {
		return unparsableDSN
	}
	return s
}

// scrubSecrets replaces in msg (an error about dsn, say) every password
// dsn holds. ok is false when dsn does not parse, so its passwords are
// unknown: msg is then unsafe to show.
func scrubSecrets(msg, dsn string) (string, bool) {
	_, secrets, ok := splitSecrets(dsn)
	if !ok {
		return "", false
	}
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	return msg, true
}

// splitSecrets returns dsn redacted and the passwords it held, both as
// written and decoded (a message may quote either).
func splitSecrets(dsn string) (redactedDSN string, secrets []string, ok bool) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return splitURLSecrets(dsn)
	}
	return splitKVSecrets(dsn)
}

func isPasswordKey(k string) bool {
	k = strings.ToLower(k)
	return k == "password" || k == "sslpassword"
}

// splitURLSecrets redacts a URL by hand rather than with url.Parse, which
// refuses pgx's multi-host URLs and a password with a '/' or '?' in it. It
// leans towards hiding too much: the user info ends at the last '@'.
func splitURLSecrets(dsn string) (string, []string, bool) {
	scheme, rest, _ := strings.Cut(dsn, "://")
	var secrets []string
	add := func(raw string) {
		if raw == "" {
			return
		}
		secrets = append(secrets, raw)
		if dec, err := url.QueryUnescape(raw); err == nil && dec != raw && dec != "" {
			secrets = append(secrets, dec)
		}
	}
	var b strings.Builder
	b.WriteString(scheme + "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		if user, pw, found := strings.Cut(userinfo, ":"); found {
			add(pw)
			userinfo = user + ":" + redacted
		}
		b.WriteString(userinfo + "@")
		rest = rest[at+1:]
	}
	beforeQuery, query, hasQuery := strings.Cut(rest, "?")
	b.WriteString(beforeQuery)
	if hasQuery {
		query, fragment, hasFragment := strings.Cut(query, "#")
		params := strings.Split(query, "&")
		for i, p := range params {
			k, v, _ := strings.Cut(p, "=")
			key, err := url.QueryUnescape(k)
			if err != nil {
				key = k
			}
			if isPasswordKey(key) {
				add(v)
				params[i] = k + "=" + redacted
			}
		}
		b.WriteString("?" + strings.Join(params, "&"))
		if hasFragment {
			b.WriteString("#" + fragment)
		}
	}
	return b.String(), secrets, true
}

// splitKVSecrets redacts a keyword/value string as libpq reads it:
// keyword = value pairs apart by spaces, a value either in single quotes
// or up to the next space, with backslash escapes in both.
func splitKVSecrets(dsn string) (string, []string, bool) {
	var b strings.Builder
	var secrets []string
	i := 0
	skipSpace := func() {
		for i < len(dsn) && isSpace(dsn[i]) {
			i++
		}
	}
	for {
		start := i
		skipSpace()
		b.WriteString(dsn[start:i])
		if i == len(dsn) {
			return b.String(), secrets, true
		}
		// keyword
		kStart := i
		for i < len(dsn) && dsn[i] != '=' && !isSpace(dsn[i]) {
			i++
		}
		key := dsn[kStart:i]
		skipSpace()
		if i == len(dsn) || dsn[i] != '=' || key == "" {
			return "", nil, false
		}
		i++ // '='
		skipSpace()
		b.WriteString(dsn[kStart:i])
		// value
		vStart := i
		var val strings.Builder
		if i < len(dsn) && dsn[i] == '\'' {
			i++
			closed := false
			for i < len(dsn) {
				c := dsn[i]
				if c == '\\' && i+1 < len(dsn) {
					val.WriteByte(dsn[i+1])
					i += 2
					continue
				}
				i++
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return "", nil, false
			}
		} else {
			for i < len(dsn) && !isSpace(dsn[i]) {
				if dsn[i] == '\\' && i+1 < len(dsn) {
					i++
				}
				val.WriteByte(dsn[i])
				i++
			}
		}
		raw := dsn[vStart:i]
		if isPasswordKey(key) {
			for _, s := range []string{raw, val.String()} {
				if s != "" && s != "''" {
					secrets = append(secrets, s)
				}
			}
			b.WriteString(redacted)
		} else {
			b.WriteString(raw)
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
